"""Groups in the room (issue 22): groups of 6, 5 and 1 added in the middle of round 1, on the projector at three
sizes and on a 375 px phone that has to choose its group while the round runs.

Eleven participants placed their sliders before any group existed and were then put in "Team Centrum" (6) and
"Team Zuid" (5) through the ORM; the twelfth is a real phone page that joins "Trio 1", a group the facilitator
adds while that phone is scrolled down the page. Every step after the set-up goes through the control panel's
own endpoints. The measurements (type sizes, boxes) are written to artifacts/groups-room.json.
"""

import json

import pytest

from tests.servers import Daphne, base_env, manage
from tests.test_browser import ARTIFACTS, accessible
from tests.test_phone_states import place
from tests.test_room_phone import PHONES, connected
from tests.test_room_screen import PROJECTORS, broken_words, control, fits, inside

pytestmark = pytest.mark.browser

# Team Centrum stands near "Bewonersgestuurd wijkgericht werken", Team Zuid near "Wijkbeheer & dienstverlening";
# the room as a whole (with the phone near "Integrale gebiedsgerichte aanpak") comes out as Bewonersgestuurd, so
# one group on the screen showing Wijkbeheer is that group's profile and not the room's.
GROUPS_SETUP = """
import secrets
from django.contrib.auth.models import User
from django.test import Client
from workshop import session_control
from workshop.models import Exercise, Participant, Position
user, _ = User.objects.get_or_create(username="begeleider", defaults={"is_superuser": True, "is_staff": True})
exercise = Exercise.objects.filter(slug="wijkgericht-werken").order_by("-version").first()
session = session_control.create_session(facilitator=user, exercise=exercise, title="Wijkteam Noord, trio's")
session_control.start_positioning(session=session)
sliders = {s.key: s for s in exercise.sliders.all()}
near = {
    "Team Centrum": {"sturing": 85, "aanpak": 55, "verankering": 35, "regie": 90, "horizon": 35},
    "Team Zuid": {"sturing": 25, "aanpak": 25, "verankering": 20, "regie": 35, "horizon": 15},
}
people = []
for name, size in (("Team Centrum", 6), ("Team Zuid", 5)):
    for i in range(size):
        p = Participant.objects.create(session=session, token_hash=secrets.token_hex(32))
        for j, (key, target) in enumerate(near[name].items()):
            value = target + (i * 7 + j) % 9 - 4
            Position.objects.create(participant=p, slider=sliders[key], round=1, value=value, seq=1)
        people.append((name, p))
# The groups come after the answers: added in the middle of round 1.
groups = {name: session_control.add_group(session=session, name=name) for name in near}
for name, p in people:
    p.group = groups[name]
    p.save(update_fields=["group"])
client = Client()
client.force_login(user)
print(session.code, groups["Team Centrum"].pk, groups["Team Zuid"].pk, client.cookies["sessionid"].value)
"""

PHONE_VALUES = {"sturing": 70, "aanpak": 90, "verankering": 60, "regie": 55, "horizon": 85}
BEWONERS = "Bewonersgestuurd wijkgericht werken"
BEHEER = "Wijkbeheer & dienstverlening"
TOO_SMALL = "Te klein om te tonen"


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    env = base_env(SQLITE_PATH=str(tmp_path_factory.mktemp("groups") / "db.sqlite3"), SECRET_KEY="groups-" + "x" * 50)
    manage("migrate", "--noinput", env=env)
    code, centrum, zuid, cookie = manage("shell", "-c", GROUPS_SETUP, env=env).split()[-4:]
    server = Daphne(env)
    try:
        yield server.url, code, int(centrum), int(zuid), cookie
    finally:
        server.stop()


# Every text-bearing element of a group card: inside its card and the viewport, none wider than its box.
CARD_BOXES = """() => {
  const out = [];
  for (const card of document.querySelectorAll('.group-card')) {
    const c = card.getBoundingClientRect();
    out.push({card: card.dataset.group, what: 'card', top: c.top, bottom: c.bottom, left: c.left, right: c.right,
              sw: card.scrollWidth, cw: card.clientWidth, sh: card.scrollHeight, ch: card.clientHeight});
    for (const el of card.querySelectorAll('h2, p, dt, dd')) {
      const r = el.getBoundingClientRect();
      out.push({card: card.dataset.group, what: el.className || el.tagName, text: el.textContent.trim(),
                top: r.top, bottom: r.bottom, left: r.left, right: r.right, sw: el.scrollWidth, cw: el.clientWidth,
                font: parseFloat(getComputedStyle(el).fontSize),
                inTop: r.top >= c.top - 0.5, inBottom: r.bottom <= c.bottom + 0.5,
                inLeft: r.left >= c.left - 0.5, inRight: r.right <= c.right + 0.5});
    }
  }
  return out;
}"""


def font_px(page, selector: str) -> float:
    sizes = page.evaluate(
        "(sel) => Array.from(document.querySelectorAll(sel)).map(el => parseFloat(getComputedStyle(el).fontSize))",
        selector,
    )
    assert sizes, f"nothing matches {selector}"
    return min(sizes)


def readable(width: int) -> float:
    """28 px at 1920 x 1080, two thirds of that on the smaller projectors."""
    return 28 if width >= 1920 else 28 * 2 / 3


def cards_fit(page, name: str, width: int, height: int) -> list[dict]:
    """Nothing clipped: every card and every text in it inside the viewport and inside its card."""
    size = fits(page)
    assert size["sh"] <= size["ih"] and size["sw"] <= size["iw"], (name, width, height, size)
    boxes = page.evaluate(CARD_BOXES)
    assert boxes, (name, "no group cards")
    for box in boxes:
        where = (name, width, height, box)
        assert box["top"] >= -0.5 and box["bottom"] <= height + 0.5, where
        assert box["left"] >= -0.5 and box["right"] <= width + 0.5, where
        assert box["sw"] <= box["cw"] + 1, where
        if box["what"] == "card":
            assert box["sh"] <= box["ch"] + 1, where
        else:
            assert box["inTop"] and box["inBottom"] and box["inLeft"] and box["inRight"], where
            assert box["text"], ("a blank cell", where)
    assert broken_words(page, ".group-card h2, .group-card .profile-name, .group-card dt") == [], (name, width, height)
    return boxes


def measure(page, name: str, selectors: dict[str, str], width: int, height: int, log: dict) -> None:
    for label, selector in selectors.items():
        px = font_px(page, selector)
        log.setdefault(name, {}).setdefault(f"{width}x{height}", {})[label] = round(px, 1)
        assert px >= readable(width) - 0.05, (name, label, width, height, px)


def test_groups_added_mid_round_on_a_phone_and_on_the_projector_at_three_sizes(browser, room):
    from playwright.sync_api import expect

    url, code, centrum, zuid, cookie = room
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log: dict = {}
    facilitator = browser.new_context(viewport={"width": 1366, "height": 768}, locale="nl-NL")
    facilitator.add_cookies([{"name": "sessionid", "value": cookie, "url": url}])
    panel = facilitator.new_page()
    panel.goto(f"{url}/f/s/{code}/")
    screen = facilitator.new_page()
    screen.set_viewport_size({"width": 1920, "height": 1080})
    screen.goto(f"{url}/f/s/{code}/screen/")
    expect(screen.get_by_test_id("joined")).to_have_text("11")
    mobile = browser.new_context(viewport=PHONES["375"], is_mobile=True, has_touch=True, locale="nl-NL")
    phone = mobile.new_page()
    phone.goto(f"{url}/j/{code}/")
    connected(phone)

    # The phone joins a room with groups: its sliders wait for a group, and say so (not that they are closed).
    expect(phone.locator("#group-picker")).to_be_visible()
    expect(phone.locator(".slider[data-key=sturing] .slider-extra")).to_have_text("Kies eerst je groep.")
    assert "begeleider" not in phone.locator("#sliders").inner_text()
    expect(phone.get_by_test_id("my-group")).to_be_hidden()

    # Scrolled down, reading the sliders, when the facilitator adds a group: the picker comes into view, said.
    phone.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    expect(phone.locator("#group-picker")).not_to_be_in_viewport()
    control(panel, code, "group_add", name="Trio 1")
    trio = phone.get_by_role("button", name="Trio 1")
    expect(trio).to_be_visible()
    expect(phone.locator("#group-picker")).to_be_in_viewport(ratio=1)
    expect(phone.locator("#announce")).to_have_text("Kies eerst je groep.")
    phone.screenshot(path=ARTIFACTS / "phone-groups-added-mid-round-375.png", animations="disabled")

    # A mis-tap can be undone until the groups are locked; the phone says which group it is in.
    phone.get_by_role("button", name="Team Zuid").click()
    expect(phone.get_by_test_id("my-group")).to_have_text("Jouw groep: Team Zuid")
    trio.click()
    expect(phone.get_by_test_id("my-group")).to_have_text("Jouw groep: Trio 1")
    expect(phone.locator("#announce")).to_have_text("Jouw groep: Trio 1")
    expect(trio).to_have_attribute("aria-pressed", "true")
    expect(phone.locator(".slider[data-key=sturing] .slider-extra")).to_be_hidden()
    for key, value in PHONE_VALUES.items():
        place(phone, key, value)
    phone.evaluate("window.scrollTo(0, 0)")
    phone.screenshot(path=ARTIFACTS / "phone-group-chosen-mid-round-375.png", animations="disabled")
    accessible(phone, "phone, group chosen mid-round")
    control(panel, code, "groups_lock", on="1")
    expect(phone.locator("#group-picker")).to_be_hidden()
    expect(phone.get_by_test_id("my-group")).to_have_text("Jouw groep: Trio 1")
    expect(screen.get_by_test_id("joined")).to_have_text("12")

    # Groups side by side, counts only: every cell says its count, a one-person group only that it is too small.
    control(panel, code, "screen", view="groups", group=str(zuid))
    cards = screen.locator(".group-card")
    expect(cards).to_have_count(3)
    trio_id = int(screen.locator(".group-card", has_text="Trio 1").get_attribute("data-group"))
    expect(screen.get_by_test_id(f"group-{zuid}-sturing")).to_have_text("5 geplaatst")
    phases = [
        ("counts", [], f"[data-testid=group-{centrum}-sturing]", {}),
        (
            "per-slider",
            [("results", {"mode": "per_slider"}), ("slider_results", {"slider": "sturing", "on": "1"})],
            f"[data-testid=group-{centrum}-sturing] strong",
            {"medians": ".group-card dd strong"},
        ),
        (
            "results",
            [("results", {"mode": "shown"})],
            f"[data-testid=group-{centrum}-sturing] strong",
            {"medians": ".group-card dd strong"},
        ),
        (
            "reveal",
            [("discussion", {}), ("reveal", {"on": "1"})],
            ".group-card .profile-name",
            {"profile names": ".group-card .profile-name", "medians": ".group-card dd strong"},
        ),
    ]
    for name, controls, ready, numbers in phases:
        for action, values in controls:
            control(panel, code, action, **values)
        expect(screen.locator(ready).first).to_be_visible()
        for width, height in PROJECTORS:
            screen.set_viewport_size({"width": width, "height": height})
            screen.wait_for_timeout(150)
            boxes = cards_fit(screen, name, width, height)
            measure(screen, f"groups-{name}", {"group names": ".group-card-name", **numbers}, width, height, log)
            log.setdefault(f"groups-{name}", {}).setdefault(f"{width}x{height}", {})["cards"] = [
                {k: round(b[k]) for k in ("top", "bottom", "left", "right")} for b in boxes if b["what"] == "card"
            ]
            screen.screenshot(path=ARTIFACTS / f"screen-groups-{name}-{width}x{height}.png", animations="disabled")
        if name == "per-slider":  # one slider's medians, the others their counts
            expect(screen.get_by_test_id(f"group-{centrum}-aanpak")).to_have_text("6 geplaatst")
            expect(screen.locator(".group-card dd strong")).to_have_count(2)
        # The one-person group: its count, never a statistic or a profile.
        solo = screen.locator(f".group-card[data-group='{trio_id}']")
        expect(solo).to_contain_text("1 persoon")
        expect(solo).to_contain_text(TOO_SMALL)
        expect(solo.locator("dd, .profile-name")).to_have_count(0)
        for value in PHONE_VALUES.values():
            assert str(value) not in solo.inner_text()
    # At the reveal each group's own profile, in view.
    expect(screen.get_by_test_id(f"group-profile-{centrum}")).to_have_text(BEWONERS)
    expect(screen.get_by_test_id(f"group-profile-{zuid}")).to_have_text(BEHEER)
    expect(screen.get_by_test_id(f"group-profile-{trio_id}")).to_have_text(TOO_SMALL)
    expect(screen.locator(".group-card-match")).to_have_count(2)
    accessible(screen, "screen, groups side by side at the reveal")

    # One group at the reveal: that group's profile and name, not the room's.
    control(panel, code, "screen", view="group", group=str(zuid))
    expect(screen.locator(".group-title")).to_have_text("Groep: Team Zuid")
    expect(screen.get_by_test_id("screen-profile")).to_have_text(BEHEER)
    assert BEWONERS not in screen.locator(".stage").inner_text()
    for width, height in PROJECTORS:
        screen.set_viewport_size({"width": width, "height": height})
        screen.wait_for_timeout(150)
        size = fits(screen)
        assert size["sh"] <= size["ih"] and size["sw"] <= size["iw"], ("one group", width, height, size)
        inside(screen, ".group-title")
        inside(screen, ".stage .profile-name")
        inside(screen, ".match-line")
        inside(screen, ".screen-plots .plot")
        measure(
            screen,
            "one-group-reveal",
            {"group name": ".group-title", "profile name": ".stage .profile-name"},
            width,
            height,
            log,
        )
        screen.screenshot(path=ARTIFACTS / f"screen-one-group-reveal-{width}x{height}.png", animations="disabled")

    # The one-person group on its own: its count, no profile and no statistic.
    control(panel, code, "screen", view="group", group=str(trio_id))
    expect(screen.locator(".group-title")).to_have_text("Groep: Trio 1")
    expect(screen.get_by_test_id("screen-profile")).to_have_count(0)
    expect(screen.locator(".screen-plots .dot")).to_have_count(0)
    expect(screen.locator("[data-testid^=screen-median-]")).to_have_count(0)
    expect(screen.locator(".screen-plots .plot", has_text="te klein om te tonen")).to_have_count(5)
    for value in PHONE_VALUES.values():
        assert f">{value}<" not in screen.locator(".screen-plots").inner_html()
    screen.screenshot(path=ARTIFACTS / "screen-one-person-group-reveal-1920x1080.png", animations="disabled")

    # Six groups side by side (the three new ones have no answers yet) still fit, long names and all.
    control(panel, code, "groups_lock", on="0")
    for extra in ("Gemeente Oost en Wijkteam West", "Woningcorporatie Noord", "Welzijn & Zorg"):
        control(panel, code, "group_add", name=extra)
    control(panel, code, "screen", view="groups", group=str(zuid))
    expect(cards).to_have_count(6)
    for width, height in PROJECTORS:
        screen.set_viewport_size({"width": width, "height": height})
        screen.wait_for_timeout(150)
        cards_fit(screen, "six groups", width, height)
        measure(
            screen,
            "six-groups-reveal",
            {"group names": ".group-card-name", "profile names": ".group-card .profile-name", "medians": "dd strong"},
            width,
            height,
            log,
        )
        screen.screenshot(path=ARTIFACTS / f"screen-six-groups-reveal-{width}x{height}.png", animations="disabled")
    # In English too: longer profile names, the same cards.
    facilitator.add_cookies([{"name": "django_language", "value": "en", "url": url}])
    screen.reload()
    expect(screen.get_by_test_id(f"group-profile-{zuid}")).to_have_text("Neighbourhood management & services")
    expect(screen.locator(f".group-card[data-group='{trio_id}']")).to_contain_text("Too small to show")
    for width, height in PROJECTORS:
        screen.set_viewport_size({"width": width, "height": height})
        screen.wait_for_timeout(150)
        cards_fit(screen, "six groups, English", width, height)
        screen.screenshot(path=ARTIFACTS / f"screen-six-groups-reveal-en-{width}x{height}.png", animations="disabled")
    (ARTIFACTS / "groups-room.json").write_text(json.dumps(log, indent=1))
    facilitator.close()
    mobile.close()
