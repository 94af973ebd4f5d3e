"""A lean production install: requirements.txt is what the server runs, the test and lint tools live in
requirements-dev.txt (the benchmark's in bench/requirements.txt), and the server imports nothing of theirs.
`make run` installs the runtime set only; `make lint` (and so CI) also fails on a model without its migration.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata

from packaging.requirements import Requirement

from tests.conftest import ROOT

RUNTIME = ROOT / "requirements.txt"
DEV = ROOT / "requirements-dev.txt"
BENCH = ROOT / "bench" / "requirements.txt"
TOOLS = {"pytest", "pytest-django", "pytest-asyncio", "hypothesis", "playwright", "ruff", "websockets", "psutil"}

# Run in a fresh interpreter with a production environment: the ASGI application as daphne loads it,
# then every module of the project (views, consumers, commands, migrations, template tags), the backends
# the settings name (built, not connected), and what the PDF report imports on its first page.
IMPORT_EVERYTHING = """
import importlib, json, pkgutil, sys
import config.asgi
import config, workshop
for package in (config, workshop):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
from channels.layers import get_channel_layer
from django.core.cache import caches
get_channel_layer(), caches["default"]
from weasyprint import HTML
print(json.dumps(sorted({name.partition(".")[0] for name in sys.modules})))
"""


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(path) -> list[Requirement]:
    """The file's own requirements (not those of a file it includes with -r)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def closure(names: set[str]) -> set[str]:
    """The installed distributions these need, transitively (as pip would install them here)."""
    seen: set[str] = set()
    todo = [(name, frozenset[str]()) for name in names]
    while todo:
        name, extras = todo.pop()
        key = norm(name)
        if key in seen and not extras:
            continue
        seen.add(key)
        for line in metadata.distribution(name).requires or []:
            req = Requirement(line)
            if req.marker and not any(req.marker.evaluate({"extra": e}) for e in (extras or {""})):
                continue
            todo.append((req.name, frozenset(req.extras)))
    return seen


def dev_only_modules() -> dict[str, set[str]]:
    """Top-level import names of the distributions that only requirements-dev.txt brings."""
    runtime = closure({r.name for r in requirements(RUNTIME)} | {"pip", "setuptools"})
    dev_only = closure({r.name for r in requirements(DEV)}) - runtime
    modules: dict[str, set[str]] = {}
    for module, dists in metadata.packages_distributions().items():
        for dist in dists:
            if norm(dist) in dev_only:
                modules.setdefault(module, set()).add(dist)
    return modules


def test_every_requirement_is_pinned_to_one_version():
    for path in (RUNTIME, DEV, BENCH):
        for req in requirements(path):
            (spec,) = req.specifier
            assert spec.operator == "==", f"{path.name}: {req} is not an exact pin"


def test_the_runtime_set_holds_no_test_or_lint_tool_and_the_dev_set_includes_it():
    runtime = {norm(r.name) for r in requirements(RUNTIME)}
    assert not runtime & TOOLS
    assert "-r requirements.txt" in DEV.read_text().splitlines()
    assert {norm(r.name) for r in requirements(DEV)} >= TOOLS


def test_the_installed_versions_are_the_pinned_ones():
    for path in (RUNTIME, DEV):
        for req in requirements(path):
            assert metadata.version(req.name) == str(next(iter(req.specifier)).version), req


def test_the_server_imports_nothing_from_the_test_only_set():
    dev_only = dev_only_modules()
    assert {"pytest", "_pytest", "hypothesis", "playwright", "ruff", "websockets"} <= dev_only.keys()
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY": "imports-" + "x" * 50,
        "ALLOWED_HOSTS": "schuif.example.nl",
        "DATABASE_URL": "postgres://schuifoefening@127.0.0.1:5432/schuifoefening",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "METRICS_ENABLED": "1",
        "METRICS_ALLOWED_ADDRESSES": "127.0.0.1",
    }
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    imported = set(json.loads(result.stdout.splitlines()[-1]))
    assert {"daphne", "channels_redis", "prometheus_client", "weasyprint"} <= imported
    leaked = {module: sorted(dev_only[module]) for module in imported & dev_only.keys()}
    assert not leaked, f"the server imports test-only packages: {leaked}"


def make_dry_run(target: str) -> str:
    # A venv path that does not exist, so that make shows every install step it would take.
    result = subprocess.run(
        ["make", "-n", target, "VENV=/nonexistent-venv"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_run_installs_the_runtime_set_only_and_the_test_targets_add_the_tools():
    run = make_dry_run("run")
    assert "pip install --quiet -r requirements.txt" in run
    assert "requirements-dev.txt" not in run
    for target in ("test", "test-fast", "lint", "bench"):
        assert "pip install --quiet -r requirements-dev.txt" in make_dry_run(target), target
    assert "bench/requirements.txt" in make_dry_run("bench")


def test_make_lint_checks_that_every_model_change_has_its_migration():
    (line,) = (x.strip() for x in make_dry_run("lint").splitlines() if "makemigrations" in x)
    assert "--check" in line and "--dry-run" in line
    # The same command line, with this checkout's interpreter: the models and migrations agree.
    command = line.replace("/nonexistent-venv/bin/python", sys.executable)
    result = subprocess.run(command, shell=True, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout
