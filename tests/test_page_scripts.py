"""The pages' scripts: the constants they run on come from the server, and their ES modules still
load each other after collectstatic gives every file a hashed name."""

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.conftest import ROOT
from workshop import page_constants
from workshop.fallback import MAX_MESSAGES
from workshop.websocket import CLOSE_FORBIDDEN, CLOSE_NOT_FOUND, CLOSE_REFUSED

SCRIPTS = ROOT / "static" / "workshop"
# How a module names the module it loads: one line, `... from "./name.js";` (what Django rewrites).
MODULE_LINE = re.compile(r"""^import [^;]*? from "(\.{1,2}/[^"]+)";$""", re.MULTILINE)


class RootAttributes(HTMLParser):
    """The attributes of the element with one id."""

    def __init__(self, id: str) -> None:
        super().__init__()
        self.id, self.found = id, None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if dict(attrs).get("id") == self.id:
            self.found = dict(attrs)


def root_attributes(html: str, id: str) -> dict[str, str | None]:
    parser = RootAttributes(id)
    parser.feed(html)
    assert parser.found is not None, f"no #{id}"
    return parser.found


def data_constants(attributes: dict[str, str | None], names: set[str]) -> dict[str, int]:
    return {name: int(attributes[name] or "") for name in names if name in attributes}


@pytest.mark.django_db
def test_the_phone_page_carries_the_servers_close_codes_batch_size_and_timings(client, workshop_session):
    html = client.get(f"/j/{workshop_session.code}/").content.decode()
    found = root_attributes(html, "participant")
    assert int(found["data-close-not-found"] or "") == CLOSE_NOT_FOUND
    assert int(found["data-close-refused"] or "") == CLOSE_REFUSED
    assert int(found["data-batch-size"] or "") == MAX_MESSAGES
    assert int(found["data-move-interval-ms"] or "") == page_constants.MOVE_INTERVAL_MS
    assert int(found["data-silence-limit-ms"] or "") == page_constants.SILENCE_LIMIT_MS
    expected = page_constants.attributes("phone")
    assert data_constants(found, set(expected)) == expected


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["control", "screen"])
def test_the_control_panel_and_the_screen_carry_the_dashboards_constants(fenna_client, workshop_session, page):
    path = f"/f/s/{workshop_session.code}/" + ("screen/" if page == "screen" else "")
    found = root_attributes(fenna_client.get(path).content.decode(), "dashboard")
    assert int(found["data-close-forbidden"] or "") == CLOSE_FORBIDDEN
    expected = page_constants.attributes("dashboard")
    assert data_constants(found, set(expected)) == expected


def constants_read(path: Path) -> set[str]:
    """The data- attributes a script reads with constant(root, "camelCase")."""
    names = re.findall(r"""constant\(root, "(\w+)"\)""", path.read_text())
    return {"data-" + re.sub(r"([A-Z])", lambda m: "-" + m.group(1).lower(), name) for name in names}


def test_every_constant_a_script_reads_is_one_the_server_renders_for_its_page():
    shared = constants_read(SCRIPTS / "live" / "constants.js")
    phone = shared | {name for path in (SCRIPTS / "phone").glob("*.js") for name in constants_read(path)}
    dashboard = shared | constants_read(SCRIPTS / "dashboard.js")
    assert "data-move-interval-ms" in phone and "data-close-forbidden" in dashboard
    assert phone <= set(page_constants.attributes("phone"))
    assert dashboard <= set(page_constants.attributes("dashboard"))


def test_no_script_keeps_its_own_copy_of_a_close_code():
    for path in SCRIPTS.rglob("*.js"):
        assert not re.search(r"\b4[0-9]{3}\b", path.read_text()), path


def test_collectstatic_gives_every_module_the_hashed_names_of_the_modules_it_loads(tmp_path, settings):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "workshop.static_storage.StaticStorage"}}
    call_command("collectstatic", "--noinput", verbosity=0)
    paths = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    modules = [p for p in SCRIPTS.rglob("*.js") if MODULE_LINE.search(p.read_text())]
    assert {"phone/main.js", "dashboard.js", "ended.js"} <= {p.relative_to(SCRIPTS).as_posix() for p in modules}
    loads = 0
    for module in modules:
        name = module.relative_to(ROOT / "static").as_posix()
        hashed = tmp_path / paths[name]
        for target in MODULE_LINE.findall(hashed.read_text()):
            resolved = (hashed.parent / target).resolve()
            logical = (module.parent / re.sub(r"\.[0-9a-f]{12}\.js$", ".js", target)).resolve()
            # The hashed copy loads the hashed copy of its neighbour, and that copy is there.
            assert resolved.relative_to(tmp_path).as_posix() == paths[logical.relative_to(ROOT / "static").as_posix()]
            assert resolved.exists()
            loads += 1
    assert loads >= 20


def test_no_function_in_the_pages_scripts_runs_over_sixty_lines():
    # A function starts on a line that ends in "{" after `function ...`, `=>` or a method's `name(...)`.
    start = re.compile(r"(\bfunction\b.*\{|=>\s*\{|^\s+\w+\([^)]*\)\s*\{)\s*$")
    longest = {}
    for path in SCRIPTS.rglob("*.js"):
        lines = path.read_text().splitlines()
        for first, line in enumerate(lines):
            if not start.search(line):
                continue
            depth, last = 0, first
            for last in range(first, len(lines)):
                depth += lines[last].count("{") - lines[last].count("}")
                if depth <= 0:
                    break
            longest[f"{path.relative_to(SCRIPTS)}:{first + 1}"] = last - first + 1
    assert len(longest) > 50
    assert {where: n for where, n in longest.items() if n > 60} == {}
