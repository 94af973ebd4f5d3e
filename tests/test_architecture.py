"""The house stays walkable: imports only point down, modules stay small, and the picture in
docs/architecture.md is the code's own import graph."""

import ast
import re
from pathlib import Path

from tests.conftest import ROOT

WORKSHOP = ROOT / "workshop"
MAX_LINES = 350
# Framework glue that the picture leaves out.
NOT_DRAWN = {"admin", "apps", "middleware", "routing"}


def modules() -> dict[str, Path]:
    return {path.stem: path for path in WORKSHOP.glob("*.py") if path.stem != "__init__"}


def imports_of(path: Path, names: set[str]) -> set[str]:
    """The workshop modules a module imports at run time (type-checking-only imports left out)."""
    tree = ast.parse(path.read_text())
    skipped = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for child in block.body
        for node in ast.walk(child)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped or not isinstance(node, ast.ImportFrom) or not node.module:
            continue
        if node.module == "workshop":
            found |= {alias.name for alias in node.names if alias.name in names}
        elif node.module.startswith("workshop."):
            target = node.module.split(".")[1]
            if target in names:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(path, set(found)) - {name} for name, path in found.items()}


def test_imports_form_no_cycle():
    edges = graph()
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(edges[name]):
            assert state.get(target) != "open", "import cycle: " + " -> ".join([*path, target])
            if target not in state:
                visit(target, [*path, target])
        state[name] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])


def test_no_module_grows_past_about_350_lines():
    sizes = {name: len(path.read_text().splitlines()) for name, path in modules().items()}
    too_long = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not too_long, f"split these by capability: {too_long}"


def test_the_picture_in_the_architecture_doc_is_the_import_graph():
    text = (ROOT / "docs" / "architecture.md").read_text()
    diagram = re.search(r"```mermaid\ngraph TD\n(.*?)```", text, re.S)
    assert diagram, "docs/architecture.md lost its import graph"
    drawn = set()
    for line in diagram.group(1).splitlines():
        source, _, targets = line.strip().partition(" --> ")
        drawn |= {(source, target.strip()) for target in targets.split("&")}
    real = {
        (source, target)
        for source, targets in graph().items()
        if source not in NOT_DRAWN
        for target in targets
        if target not in NOT_DRAWN
    }
    assert drawn - real == set(), "drawn but not imported"
    assert real - drawn == set(), "imported but not drawn"


def test_only_the_runtime_keeps_mutable_state_at_module_level():
    # Module-level names that are rebound with `global` are live state; only runtime.py may hold it.
    holders = {name for name, path in modules().items() if re.search(r"^\s+global ", path.read_text(), re.M)}
    assert holders == {"runtime"}
