"""Issue 27 end to end in Chromium: research staff publish a reference from twelve archived sessions, a
facilitator picks it when creating a session, runs it, reveals, shows the comparison with V at three
projector sizes, and finds it in the PDF report."""

import io
import re

import pytest

from tests.servers import Daphne, base_env, manage
from tests.test_browser import ARTIFACTS, accessible
from tests.test_room_screen import PROJECTORS, control, fits, font_px, inside


def clipped(page) -> list[str]:
    """Rows whose content the screen cuts off (a row hides what does not fit)."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.compare-row')).filter(row =>
             row.scrollHeight > row.clientHeight + 1 || row.scrollWidth > row.clientWidth + 1
             || Array.from(row.querySelectorAll('p, h2')).some(el => el.scrollWidth > el.clientWidth + 1)
           ).map(row => row.dataset.slider)"""
    )


pytestmark = pytest.mark.browser

ARCHIVES_SETUP = """
import secrets
from django.contrib.auth.models import User
from django.test import Client
from workshop import access, closing, session_control
from workshop.models import Exercise, Participant, Position
facilitator, _ = User.objects.get_or_create(username="fenna")
facilitator.groups.add(access.create_role(access.FACILITATORS))
researcher, _ = User.objects.get_or_create(username="rik")
researcher.groups.add(access.create_role(access.RESEARCH_STAFF))
exercise = Exercise.objects.filter(slug="wijkgericht-werken").order_by("-version").first()
sliders = list(exercise.sliders.order_by("order", "pk"))
for s in range(12):
    session = session_control.create_session(facilitator=facilitator, exercise=exercise, title=f"Eerder {s}")
    session.size_class, session.organisation_type = "m", "municipality"
    session.save(update_fields=["size_class", "organisation_type"])
    for i in range(5):
        p = Participant.objects.create(session=session, token_hash=secrets.token_hex(32))
        for j, slider in enumerate(sliders):
            value = (s * 7 + i * 11 + j * 17) % 90 + 5
            Position.objects.create(participant=p, slider=slider, round=1, value=value, seq=1)
    closing.close_session(session=session)
cookies = []
for user in (researcher, facilitator):
    client = Client()
    client.force_login(user)
    cookies.append(client.cookies["sessionid"].value)
print(*cookies)
"""

ROOM_SETUP = """
import secrets
from django.contrib.auth.models import User
from workshop import session_control
from workshop.models import Exercise, Participant, Position
exercise = Exercise.objects.filter(slug="wijkgericht-werken").order_by("-version").first()
facilitator = User.objects.get(username="fenna")
session = session_control.create_session(facilitator=facilitator, exercise=exercise, title="Wijkteam Noord")
session.size_class, session.organisation_type = "m", "municipality"
session.save(update_fields=["size_class", "organisation_type"])
sliders = list(exercise.sliders.order_by("order", "pk"))
for i in range(40):
    p = Participant.objects.create(session=session, token_hash=secrets.token_hex(32))
    for j, slider in enumerate(sliders):
        value = (i * 37 + j * 13) % 70 + 5
        Position.objects.create(participant=p, slider=slider, round=1, value=value, seq=1)
        Position.objects.create(participant=p, slider=slider, round=2, value=min(100, value + 25), seq=1)
print(session.code)
"""


@pytest.fixture(scope="module")
def country(tmp_path_factory):
    env = base_env(SQLITE_PATH=str(tmp_path_factory.mktemp("refs") / "db.sqlite3"), SECRET_KEY="refs-" + "x" * 50)
    manage("migrate", "--noinput", env=env)
    researcher, facilitator = manage("shell", "-c", ARCHIVES_SETUP, env=env, timeout=300).split()[-2:]
    server = Daphne(env)
    try:
        yield server.url, env, researcher, facilitator
    finally:
        server.stop()


def test_a_reference_goes_from_the_archive_to_the_room_and_home(browser, country):
    from playwright.sync_api import expect
    from pypdf import PdfReader

    url, env, researcher, facilitator = country
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    # Research staff: the overview filtered to size class m, published as a reference.
    research = browser.new_context(viewport={"width": 1366, "height": 900}, locale="nl-NL")
    research.add_cookies([{"name": "sessionid", "value": researcher, "url": url}])
    page = research.new_page()
    page.goto(f"{url}/archive/?size_class=m&organisation_type=municipality")
    expect(page.get_by_test_id("reference-preview")).to_contain_text("12 sessies")
    page.get_by_label("Naam van de referentie").fill("Gemeenten 50.000 tot 100.000, 2026")
    page.get_by_label("Korte beschrijving").fill("Twaalf werksessies van middelgrote gemeenten")
    page.get_by_role("button", name="Referentie publiceren").click()
    expect(page.get_by_test_id("reference-sessions")).to_have_text("12")
    accessible(page, "references")
    page.screenshot(path=str(ARTIFACTS / "references-list.png"))

    # The facilitator: the session of a municipality of that size (made with its room already placed, so that
    # the live store is seeded with it; tests/test_references.py proves the creation form's choice) takes the
    # suggested reference on its own page.
    code = manage("shell", "-c", ROOM_SETUP, env=env).split()[-1]
    room = browser.new_context(viewport={"width": 1366, "height": 768}, locale="nl-NL")
    room.add_cookies([{"name": "sessionid", "value": facilitator, "url": url}])
    panel = room.new_page()
    panel.goto(f"{url}/f/s/{code}/reference/")
    expect(panel.locator(".reference-suggestions")).to_contain_text("voorgesteld")
    panel.get_by_label("Vergelijk met andere sessies").select_option("suggested")
    panel.get_by_role("button", name="Opslaan").click()
    panel.wait_for_url(re.compile(r".*/f/s/\w{6}/$"))
    panel.goto(f"{url}/f/s/{code}/")
    expect(panel.get_by_test_id("compare-controls")).to_contain_text("Gemeenten 50.000 tot 100.000")
    screen = room.new_page()
    screen.set_viewport_size({"width": 1920, "height": 1080})
    screen.goto(f"{url}/f/s/{code}/screen/")
    expect(screen.get_by_test_id("joined")).to_have_text("40")

    # Before the reveal the comparison is refused by the table; after it, V shows it.
    for action, values in (("start", {}), ("discussion", {}), ("results", {"mode": "shown"})):
        control(panel, code, action, **values)
    refused = panel.evaluate(
        """async (url) => {
           const h = JSON.parse(document.body.getAttribute('hx-headers')); h['HX-Request'] = 'true';
           const body = new URLSearchParams({view: 'compare'});
           return (await fetch(url, {method: 'POST', headers: h, body})).status; }""",
        f"/f/s/{code}/do/screen/",
    )
    assert refused == 409
    expect(screen.get_by_test_id("screen-compare")).to_have_count(0)
    control(panel, code, "reveal", on="1")
    expect(screen.get_by_test_id("screen-profile")).to_be_visible()
    panel.reload()
    panel.keyboard.press("v")
    expect(screen.get_by_test_id("screen-compare")).to_be_visible()
    expect(screen.get_by_test_id("compare-source")).to_contain_text("12 sessies")
    expect(screen.get_by_test_id("compare-share")).to_contain_text("van de 12")
    for width, height in PROJECTORS:
        screen.set_viewport_size({"width": width, "height": height})
        screen.wait_for_timeout(150)
        size = fits(screen)
        assert size["sh"] <= size["ih"] and size["sw"] <= size["iw"], (width, height, size)
        inside(screen, ".compare-row")
        inside(screen, ".compare-legend")
        assert clipped(screen) == [], (width, height)
        if width == 1920:
            assert font_px(screen, ".compare-label h2") >= 28
            assert font_px(screen, ".compare-figures strong") >= 28
        screen.screenshot(path=str(ARTIFACTS / f"screen-compare-{width}x{height}.png"))
    accessible(screen, "screen compare")

    # The phones get the same comparison with their result.
    control(panel, code, "reveal_phones", on="1")
    mobile = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, locale="nl-NL")
    phone = mobile.new_page()
    phone.goto(f"{url}/j/{code}/")
    expect(phone.locator("#reveal-compare")).to_be_visible()
    expect(phone.locator("#reveal-compare")).to_contain_text("12 sessies")
    expect(phone.locator("#reveal-compare li")).to_have_count(5)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    phone.locator("#reveal-compare").screenshot(path=str(ARTIFACTS / "phone-compare-375.png"))
    accessible(phone, "phone compare")
    mobile.close()

    # Round 2: where the room wants to go against where the others are; a new reveal gives the profile the
    # stage first, V compares again.
    for action, values in (("round2", {}), ("discussion", {}), ("reveal", {"on": "1"})):
        control(panel, code, action, **values)
    expect(screen.locator(".stage .two-rounds")).to_be_visible()
    expect(screen.get_by_test_id("screen-compare")).to_have_count(0)
    panel.reload()
    panel.keyboard.press("v")
    expect(screen.locator(".compare-round2")).to_be_visible()
    expect(screen.get_by_test_id("compare-room-sturing")).to_contain_text("→")
    for width, height in PROJECTORS:
        screen.set_viewport_size({"width": width, "height": height})
        screen.wait_for_timeout(150)
        size = fits(screen)
        assert size["sh"] <= size["ih"] and size["sw"] <= size["iw"], (width, height, size)
        inside(screen, ".compare-row")
        screen.screenshot(path=str(ARTIFACTS / f"screen-compare-round2-{width}x{height}.png"))
        assert clipped(screen) == [], (width, height)

    # Home: close, and the PDF report carries the reference's name, date and number of sessions.
    control(panel, code, "screen", view="room")
    closed = panel.evaluate(
        """async (url) => { const h = JSON.parse(document.body.getAttribute('hx-headers'));
           return (await fetch(url, {method: 'POST', headers: h})).status; }""",
        f"/f/s/{code}/close/",
    )
    assert closed in (200, 302)
    pdf = room.request.get(f"{url}/f/s/{code}/results.pdf")
    assert pdf.ok
    (ARTIFACTS / "report-compare.pdf").write_bytes(pdf.body())
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.body())).pages)
    assert "Vergeleken met andere sessies" in text
    assert "Gemeenten 50.000 tot 100.000, 2026" in text
    assert "uit 12 sessies" in text
    assert re.search(r"gemaakt op \d{1,2} \w+ 20\d\d", text), text
    assert "Ronde 2" in text.split("Vergeleken met andere sessies", 1)[1]
