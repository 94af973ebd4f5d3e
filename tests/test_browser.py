"""A real phone page and a real dashboard page in Chromium, against a real daphne."""

import csv
import io
import os
import re
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.conftest import ROOT
from tests.servers import SESSION_SETUP, Daphne, base_env, daphne, manage

pytestmark = pytest.mark.browser

ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR", ROOT / "artifacts"))
AXE = (Path(__file__).parent / "vendor" / "axe-4.14.1.min.js").read_text()
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_RESULTS: dict[str, dict[str, int]] = {}


def accessible(page, name: str) -> None:
    """axe-core on the page as it is now: no serious or critical WCAG 2.1 AA violation."""
    page.evaluate(AXE)
    violations = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length, target: v.nodes[0].target.join(' ')}))",
        AXE_TAGS,
    )
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    AXE_RESULTS[name] = {"serious_or_critical": len(bad), "other": len(violations) - len(bad)}
    assert not bad, f"{name}: {bad}"


@pytest.fixture(scope="module", autouse=True)
def _report_axe():
    yield
    from tests.conftest import FIGURES

    for name, counts in AXE_RESULTS.items():
        FIGURES.append(f"axe {name}: {counts['serious_or_critical']} serious/critical, {counts['other']} minor")


PASSWORD = "een-lang-test-wachtwoord"


@dataclass(frozen=True)
class Server:
    url: str
    env: dict[str, str]


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
        yield Server(url, env)


def test_a_keyboard_move_on_a_phone_shows_on_the_dashboard(browser, server):
    from playwright.sync_api import expect

    url = server.url
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    # The facilitator logs in and creates a session through the pages.
    facilitator = browser.new_context(viewport={"width": 1366, "height": 900}, locale="nl-NL")
    dashboard = facilitator.new_page()
    dashboard.goto(f"{url}/")
    accessible(dashboard, "home")
    dashboard.goto(f"{url}/f/")
    accessible(dashboard, "login")
    dashboard.fill("#id_username", "fenna")
    dashboard.fill("#id_password", PASSWORD)
    dashboard.click("button[type=submit]")
    accessible(dashboard, "facilitator home")
    dashboard.fill("#id_title", "Wijkteam Noord")
    dashboard.get_by_role("button", name="Sessie aanmaken").click()
    code_box = dashboard.get_by_test_id("code")
    expect(code_box).to_have_text(re.compile(r"^[A-Z2-9]{6}$"))
    code = code_box.inner_text()
    dashboard.get_by_role("button", name="Alle schuiven openen").click()
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
    phone.screenshot(path=ARTIFACTS / "phone.png", full_page=True, animations="disabled")

    expect(dashboard.get_by_test_id("n-sturing")).to_have_text("1")
    expect(dashboard.get_by_test_id("median-sturing")).to_have_text("70")
    expect(dashboard.get_by_test_id("joined")).to_have_text("1")
    dashboard.screenshot(path=ARTIFACTS / "dashboard.png", full_page=True, animations="disabled")

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
    page.screenshot(path=ARTIFACTS / "phone-360.png", full_page=True, animations="disabled")
    small.close()


def set_slider(page, key: str, value: int) -> None:
    """Home, then Page Up in steps of ten: keyboard only, as a screen-reader user would."""
    handle = page.locator(f"#slider-{key}")
    handle.focus()
    handle.press("Home")
    for _ in range(value // 10):
        handle.press("PageUp")


def test_a_two_round_workshop_with_a_screen_and_three_phones(browser, server, slider_keys):
    from playwright.sync_api import expect

    url = server.url
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    facilitator = browser.new_context(viewport={"width": 1366, "height": 900}, locale="nl-NL", accept_downloads=True)
    panel = facilitator.new_page()
    panel.on("dialog", lambda dialog: dialog.accept())
    panel.goto(f"{url}/f/")
    panel.fill("#id_username", "fenna")
    panel.fill("#id_password", PASSWORD)
    panel.click("button[type=submit]")
    panel.fill("#id_title", "Scenario")
    panel.get_by_role("button", name="Sessie aanmaken").click()
    code = panel.get_by_test_id("code").inner_text()

    screen = facilitator.new_page()
    screen.set_viewport_size({"width": 1920, "height": 1080})
    screen.goto(f"{url}/f/s/{code}/screen/")
    expect(screen.get_by_test_id("code")).to_have_text(code)
    screen.screenshot(path=ARTIFACTS / "screen-lobby.png", animations="disabled")
    accessible(screen, "screen, lobby")
    accessible(panel, "control panel, lobby")

    phones = []
    for _ in range(3):
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="nl-NL")
        page = context.new_page()
        page.goto(f"{url}/j/{code}/")
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
        expect(page.locator("#phase")).to_have_text("Welkom! De begeleider opent zo de schuiven.")
        phones.append((context, page))
    accessible(phones[0][1], "phone, lobby")
    expect(screen.get_by_test_id("joined")).to_have_text("3")
    # Live updates keep the join code and QR code on the screen.
    expect(screen.locator(".lobby-qr svg")).to_be_visible()

    # Round 1: everyone places every slider; the screen shows only counts.
    panel.get_by_role("button", name="Alle schuiven openen").click()
    for (_, page), value in zip(phones, (20, 40, 60), strict=True):
        expect(page.locator("#slider-sturing")).to_be_enabled()
        for key in slider_keys:
            set_slider(page, key, value)
        expect(page.locator("#state-horizon")).to_have_text("Opgeslagen")
    expect(screen.get_by_test_id("screen-count-sturing")).to_have_text("3")
    expect(screen.locator(".dot")).to_have_count(0)
    expect(screen.locator(".join-corner svg")).to_be_visible()
    phones[0][1].screenshot(path=ARTIFACTS / "phone-round1.png", full_page=True, animations="disabled")
    accessible(phones[0][1], "phone, round 1")
    accessible(screen, "screen, counts only")

    panel.get_by_role("button", name="Alle resultaten tonen").click()
    expect(screen.get_by_test_id("screen-median-sturing")).to_have_text("40")
    expect(screen.locator(".dot")).to_have_count(15)
    panel.get_by_role("button", name="Profiel onthullen").click()
    expect(screen.get_by_test_id("screen-profile")).to_be_visible()
    profile_round_one = screen.get_by_test_id("screen-profile").inner_text()
    screen.screenshot(path=ARTIFACTS / "screen-reveal.png", animations="disabled")
    panel.get_by_role("button", name="Ook op telefoons onthullen").click()
    for _, page in phones:
        expect(page.locator("#reveal-name")).to_have_text(profile_round_one)
        expect(page.locator(".slider[data-key=sturing] .marker.median")).to_be_visible()
    phones[1][1].screenshot(path=ARTIFACTS / "phone-reveal.png", full_page=True, animations="disabled")
    accessible(phones[1][1], "phone, profile revealed")
    accessible(screen, "screen, profile revealed")

    # Round 2: the same sliders, with round 1 as a ghost marker.
    panel.get_by_role("button", name="Ronde 2 starten").click()
    for _, page in phones:
        expect(page.locator("#phase")).to_have_text("Ronde 2: hoe willen we het hebben?")
        expect(page.locator(".slider[data-key=sturing] .marker.ghost")).to_be_visible()
        expect(page.locator("#reveal")).to_be_hidden()
        set_slider(page, "sturing", 80)
        expect(page.locator("#state-sturing")).to_have_text("Opgeslagen")
    expect(screen.get_by_test_id("screen-count-sturing")).to_have_text("3")
    panel.get_by_role("button", name="Alle resultaten tonen").click()
    panel.get_by_role("button", name="Profiel onthullen").click()
    expect(screen.get_by_test_id("screen-median-sturing")).to_have_text("80")
    # The arrow from now (40) to desired (80), and both rounds' profiles.
    expect(screen.locator("[data-slider=sturing] line.shift")).to_have_count(1)
    expect(screen.locator(".two-rounds")).to_contain_text(profile_round_one)
    profile_round_two = screen.locator(".round-desired [data-testid=screen-profile]").inner_text()
    screen.screenshot(path=ARTIFACTS / "screen-round2.png", animations="disabled")
    panel.screenshot(path=ARTIFACTS / "control-panel.png", full_page=True, animations="disabled")
    accessible(screen, "screen, round 2 arrows")
    accessible(panel, "control panel, round 2")

    # Close: phones thank everyone; the panel goes to the results.
    panel.get_by_role("button", name="Sessie afsluiten").click()
    expect(panel).to_have_url(re.compile(f"/f/s/{code}/results/$"))
    for _, page in phones:
        expect(page.locator("#phase")).to_have_text("Deze sessie is afgesloten. Bedankt voor je deelname!")
        expect(page.locator("#kept-result")).to_be_visible()
        # Said once: not again by the connection line or above the kept result.
        assert page.locator("body").inner_text().lower().count("afgesloten") == 1, page.locator("body").inner_text()
    phones[2][1].screenshot(path=ARTIFACTS / "phone-closed.png", full_page=True, animations="disabled")
    panel.screenshot(path=ARTIFACTS / "results.png", full_page=True, animations="disabled")
    accessible(phones[2][1], "phone, closed")
    accessible(panel, "results")

    with panel.expect_download() as download_info:
        panel.get_by_role("link", name="CSV downloaden").click()
    raw = Path(download_info.value.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a byte order mark: Excel reads UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))  # the Dutch page: for a Dutch Excel
    assert rows[0] == ["participant", "group", "round", "slider", "value"]
    body = rows[1:]
    assert len(body) == 3 * 5 + 3
    assert sorted(r[4] for r in body if r[2] == "1" and r[3] == "sturing") == ["20", "40", "60"]
    assert [r[4] for r in body if r[2] == "2"] == ["80", "80", "80"]
    assert {r[0] for r in body} == {"P1", "P2", "P3"}

    # The report, and each phone's own page: from the closed phone, and again after a reload.
    with panel.expect_download() as download_info:
        panel.get_by_role("link", name="Rapport downloaden (pdf)").click()
    assert len(PdfReader(download_info.value.path()).pages) == 3
    phone = phones[2][1]
    for attempt in ("closed", "reloaded"):
        if attempt == "reloaded":
            phone.reload()
            expect(phone.locator("#kept-result")).to_be_visible()
            expect(phone.locator("#kept-name")).to_have_text(profile_round_two)
        # Its own positions in both rounds beside the room's medians.
        expect(phone.locator("#kept-rows tr")).to_have_count(5)
        expect(phone.locator("#kept-rows-2 tr")).to_have_count(5)
        with phone.expect_download() as download_info:
            phone.get_by_role("button", name="Je resultaat downloaden (pdf)").click()
        mine = PdfReader(download_info.value.path())
        assert len(mine.pages) == 1 and profile_round_two in " ".join(mine.pages[0].extract_text().split())
    accessible(phone, "phone, reloaded after closing")
    for context, _ in phones:
        context.close()
    facilitator.close()


FINISHED_SESSION = """
import secrets
from django.contrib.auth.models import Group, User
from workshop import closing, session_control
from datetime import date
from workshop.models import Archive, Exercise, Participant, Position
rik = User.objects.create_user("rik", password="{password}")
rik.groups.add(Group.objects.get(name="Research"))
exercise = Exercise.objects.filter(slug="wijkgericht-werken").order_by("-version").first()
fenna = User.objects.get(username="fenna")
session = session_control.create_session(facilitator=fenna, exercise=exercise, title="Kwartaal")
session_control.start_positioning(session=session)
big = session_control.add_group(session=session, name="Noord")
solo = session_control.add_group(session=session, name="Solo")
people = []
for i in range(4):
    participant = Participant.objects.create(
        session=session, token_hash=secrets.token_hex(32), group=solo if i == 3 else big
    )
    people.append(participant)
    for slider in exercise.sliders.all():
        Position.objects.create(participant=participant, slider=slider, round=1, value=20 + 5 * i)
session_control.start_round_two(session=session)
for i, participant in enumerate(people):
    for n, slider in enumerate(exercise.sliders.all()):
        # The last slider has two answers in round 2: its count only.
        value = None if n == 4 and i > 1 else 40 + 10 * n + 5 * i
        Position.objects.create(participant=participant, slider=slider, round=2, value=value)
closing.close_session(session=session)
# Earlier quarters, for the overview's profiles per quarter.
for month, profile in [(1, "beheer"), (2, "bewoners"), (4, "beheer"), (5, "beheer"), (8, "gebiedsaanpak")]:
    Archive.objects.create(exercise=exercise, month=date(2025, month, 1), participants=5, rounds=1, profile_now=profile)
"""


def test_research_staff_filter_a_quarter_and_download_a_matching_csv(browser, server):
    from playwright.sync_api import expect

    manage("shell", "-c", FINISHED_SESSION.format(password=PASSWORD), env=server.env)
    today = date.today()
    first = (today.month - 1) // 3 * 3 + 1
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="nl-NL", accept_downloads=True)
    page = context.new_page()
    page.goto(f"{server.url}/accounts/login/")
    page.fill("#id_username", "rik")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile("/archive/$"))
    expect(page.locator(".quarter")).not_to_have_count(0)
    page.screenshot(path=ARTIFACTS / "archive-all.png", full_page=True, animations="disabled")
    accessible(page, "archive list, all quarters")
    page.fill("#id_period_from", f"{today.year}-{first:02d}")
    page.fill("#id_period_to", f"{today.year}-{first + 2:02d}")
    page.get_by_role("button", name="Filteren").click()
    expect(page.get_by_test_id("archive-sessions")).not_to_have_text("0")
    expect(page.locator("table.profile-counts tbody tr").first).to_be_visible()
    page.screenshot(path=ARTIFACTS / "archive.png", full_page=True, animations="disabled")
    accessible(page, "archive list")
    # The four-person session of FINISHED_SESSION (the two-round workshop above archived one of three).
    four = page.locator("table tr").filter(has=page.locator("td:nth-child(3)", has_text=re.compile(r"^4$")))
    four.locator("a[href^='/archive/']").first.click()
    expect(page.locator("h1")).to_contain_text("Organisatievormen")
    expect(page.locator(".rounds.side-by-side > section")).to_have_count(2)
    expect(page.get_by_text("Noord").first).to_be_visible()
    # Solo is one person: never named, and too few even as "kleine groepen".
    expect(page.get_by_text("kleine groepen")).to_have_count(0)
    expect(page.get_by_text("Solo")).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "archive-detail.png", full_page=True, animations="disabled")
    accessible(page, "archive detail")
    page.go_back()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV downloaden").click()
    raw = Path(download_info.value.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a byte order mark, as every CSV of the app
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    by_archive: dict[str, set[tuple[str, str]]] = {}
    for row in rows:
        assert row["month"] == today.strftime("%Y-%m")
        if row["round"] == "1":
            by_archive.setdefault(row["archive"], set()).add((row["participant"], row["value"]))
    expected = {(f"P{i + 1}", str(20 + 5 * i)) for i in range(4)}
    assert expected in by_archive.values()
    assert "Solo" not in {row["group"] for row in rows}
    # Nothing in the download points at a phone or a session.
    assert set(rows[0]) == {
        "archive",
        "month",
        "exercise",
        "version",
        "organisation_type",
        "size_class",
        "region",
        "participant",
        "group",
        "round",
        "slider",
        "value",
    }
    context.close()


OPEN_SESSION = """
from django.contrib.auth.models import User
from workshop import closing, session_control
from workshop.models import Exercise
exercise = Exercise.objects.filter(slug="wijkgericht-werken").order_by("-version").first()
fenna = User.objects.get(username="fenna")
session = session_control.create_session(facilitator=fenna, exercise=exercise, title="Toegankelijk")
session_control.start_positioning(session=session)
print(session.code)
"""


def test_a_phone_works_by_keyboard_at_double_text_size_and_without_motion(browser, server):
    from playwright.sync_api import expect

    code = manage("shell", "-c", OPEN_SESSION, env=server.env).split()[-1]
    # An iPhone SE, as the smallest iPhone in the room.
    context = browser.new_context(
        viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True, locale="nl-NL", reduced_motion="reduce"
    )
    page = context.new_page()
    page.goto(f"{server.url}/j/{code}/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")

    # Keyboard alone reaches the first slider, with a visible focus ring.
    handle = page.locator("#slider-sturing")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "slider-sturing":
            break
    assert page.evaluate("document.activeElement.id") == "slider-sturing"
    ring = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()"
    )
    assert ring[0] != "none" and ring[1] >= 2

    # Every key a slider should answer, announced in words with the pole it leans to.
    steps = [
        ("Home", 0, "0, richting Centraal"),
        ("End", 100, "100, richting Decentraal"),
        ("PageDown", 90, None),
        ("ArrowLeft", 89, None),
        ("ArrowDown", 88, None),
        ("PageUp", 98, None),
        ("ArrowUp", 99, None),
        ("ArrowRight", 100, None),
    ]
    for key, value, words in steps:
        page.keyboard.press(key)
        expect(handle).to_have_value(str(value))
        if words:
            expect(handle).to_have_attribute("aria-valuetext", words)
    expect(page.locator("#state-sturing")).to_have_text("Opgeslagen")

    # Text at 200 %: nothing is lost sideways, and the page still passes axe.
    page.evaluate("document.documentElement.style.fontSize = '225%'")  # 200 % of the page's own 112.5 %
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    for label in page.locator(".slider-label").all():
        box = label.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
    page.screenshot(path=ARTIFACTS / "phone-200-percent.png", full_page=True, animations="disabled")
    accessible(page, "phone, text at 200 %")

    # Reduced motion: the reveal's transition is switched off.
    animation = page.evaluate(
        "(() => { const s = document.createElement('div'); s.className = 'screen';"
        " const r = document.createElement('aside'); r.className = 'reveal';"
        " s.appendChild(r); document.body.appendChild(s);"
        " return getComputedStyle(r).animationName; })()"
    )
    assert animation == "none"
    context.close()


@pytest.mark.faults
def test_the_pages_come_back_by_themselves_after_kill_9_and_lose_nothing(browser, tmp_path):
    """The page's own reconnect code (live/socket.js, phone/connection.js, dashboard.js) against a crash."""
    from playwright.sync_api import expect

    env = base_env(SQLITE_PATH=str(tmp_path / "db.sqlite3"), SECRET_KEY="crash-" + "x" * 50)
    manage("migrate", "--noinput", env=env)
    code, cookie = manage("shell", "-c", SESSION_SETUP, env=env).split()[-2:]
    server = Daphne(env)
    try:
        facilitator = browser.new_context(viewport={"width": 1366, "height": 900}, locale="nl-NL")
        facilitator.add_cookies([{"name": "sessionid", "value": cookie, "url": server.url}])
        panel = facilitator.new_page()
        panel.goto(f"{server.url}/f/s/{code}/")
        participant = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="nl-NL")
        phone = participant.new_page()
        phone.goto(f"{server.url}/j/{code}/")
        connection = phone.locator("#connection")
        expect(connection).to_have_attribute("data-state", "connected")
        handle = phone.locator("#slider-sturing")
        handle.focus()
        for _ in range(10):
            handle.press("ArrowRight")  # 50 -> 60
        expect(phone.locator("#state-sturing")).to_have_text("Opgeslagen")
        expect(panel.get_by_test_id("median-sturing")).to_have_text("60")

        server.kill()
        expect(connection).not_to_have_attribute("data-state", "connected")
        expect(panel.locator("#banner")).to_be_visible()
        for _ in range(10):
            handle.press("ArrowRight")  # 60 -> 70 while the server is gone
        expect(phone.locator("#state-sturing")).to_have_text("Opslaan…")

        server = Daphne(env, port=server.port)
        # Nobody touches a page: backoff with jitter brings both back, and the phone resends.
        expect(connection).to_have_attribute("data-state", "connected", timeout=20_000)
        expect(phone.locator("#state-sturing")).to_have_text("Opgeslagen")
        expect(panel.get_by_test_id("median-sturing")).to_have_text("70", timeout=20_000)
        expect(panel.locator("#banner")).to_be_hidden()
        stored = manage(
            "shell", "-c", "from workshop.models import Position; print(Position.objects.get().value)", env=env
        )
        assert stored.split()[-1] == "70"

        # Down again: the backoff grows between attempts, but `online` and the page
        # becoming visible again each bring an attempt at once.
        server.kill()
        waits = []
        for event in (
            "window.dispatchEvent(new Event('online'))",
            "document.dispatchEvent(new Event('visibilitychange'))",
        ):
            started = time.monotonic()
            for _ in range(4):
                phone.wait_for_event("websocket", timeout=20_000)
            waits.append(time.monotonic() - started)
            expect(connection).to_have_attribute("data-state", "offline")  # the last attempt has failed
            with phone.expect_event("websocket", timeout=1_000):  # the next one would be 2-8 s away
                phone.evaluate(event)
        assert min(waits) >= 1.5  # four attempts took a while: the backoff really was growing
        server = Daphne(env, port=server.port)
        phone.evaluate("window.dispatchEvent(new Event('online'))")
        expect(connection).to_have_attribute("data-state", "connected", timeout=10_000)
        facilitator.close()
        participant.close()
    finally:
        server.stop()
