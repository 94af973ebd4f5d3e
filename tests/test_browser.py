"""A real phone page and a real dashboard page in Chromium, against a real daphne."""

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, need
from tests.servers import base_env, daphne, manage

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR", ROOT / "artifacts"))
PASSWORD = "een-lang-test-wachtwoord"


@pytest.fixture(scope="module")
def browser():
    need(shutil.which(CHROMIUM) is not None, f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "the playwright package is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The embedded default (SQLite file, in-memory layer), as `make run` serves it."""
    env = base_env(
        SQLITE_PATH=str(tmp_path_factory.mktemp("db") / "db.sqlite3"),
        DJANGO_SUPERUSER_USERNAME="fenna",
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
    )
    manage("migrate", "--noinput", env=env)
    manage("ensure_facilitator", env=env)
    with daphne(env) as url:
        yield url


def test_a_keyboard_move_on_a_phone_shows_on_the_dashboard(browser, server):
    from playwright.sync_api import expect

    url = server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    # The facilitator logs in and creates a session through the pages.
    facilitator = browser.new_context(viewport={"width": 1366, "height": 900}, locale="nl-NL")
    dashboard = facilitator.new_page()
    dashboard.goto(f"{url}/f/")
    dashboard.fill("#id_username", "fenna")
    dashboard.fill("#id_password", PASSWORD)
    dashboard.click("button[type=submit]")
    dashboard.fill("#id_title", "Wijkteam Noord")
    dashboard.get_by_role("button", name="Sessie aanmaken").click()
    code_box = dashboard.get_by_test_id("code")
    expect(code_box).to_have_text(re.compile(r"^[A-Z2-9]{6}$"))
    code = code_box.inner_text()
    dashboard.get_by_role("button", name="Alle schuifjes openen").click()
    expect(dashboard.get_by_test_id("phase")).to_have_text("Ronde 1: hoe is het nu georganiseerd?")
    expect(dashboard.get_by_test_id("n-sturing")).to_have_text("0")

    participant = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="nl-NL"
    )
    phone = participant.new_page()
    phone.goto(f"{url}/")
    phone.fill("#id_code", code.lower())
    phone.get_by_role("button", name="Meedoen").click()
    expect(phone.locator("#connection")).to_have_attribute("data-state", "connected")
    handle = phone.locator("#slider-sturing")
    handle.focus()
    for _ in range(20):
        handle.press("ArrowRight")  # 50 -> 70
    expect(phone.locator("#state-sturing")).to_have_text("Opgeslagen")
    expect(handle).to_have_attribute("aria-valuetext", "70, richting Decentraal")
    phone.screenshot(path=ARTIFACTS / "phone.png", full_page=True)

    expect(dashboard.get_by_test_id("n-sturing")).to_have_text("1")
    expect(dashboard.get_by_test_id("median-sturing")).to_have_text("70")
    expect(dashboard.get_by_test_id("joined")).to_have_text("1")
    dashboard.screenshot(path=ARTIFACTS / "dashboard.png", full_page=True)

    # A reload keeps the position: the token lives in the browser, the value on the server.
    phone.reload()
    expect(phone.locator("#connection")).to_have_attribute("data-state", "connected")
    expect(handle).to_have_value("70")
    expect(dashboard.get_by_test_id("joined")).to_have_text("1")
    facilitator.close()
    participant.close()

    # The smallest phones in the room: nothing sticks out sideways at 360 px.
    small = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, locale="nl-NL")
    page = small.new_page()
    page.goto(f"{url}/j/{code}/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=ARTIFACTS / "phone-360.png", full_page=True)
    small.close()
