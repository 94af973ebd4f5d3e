"""The moment in the room: the projector screen and the control panel in Chromium, at real projector sizes.

A session with 60 participants (three groups, both rounds) is set up through the ORM before any
page connects; every step after that goes through the control panel's own endpoints, so the
screen is updated over its websocket as in a workshop.
"""

import pytest

from tests.servers import SESSION_SETUP, Daphne, base_env, manage
from tests.test_browser import ARTIFACTS, accessible

pytestmark = pytest.mark.browser

PROJECTORS = [(1024, 768), (1280, 720), (1920, 1080)]

ROOM_SETUP = """
import secrets
from django.contrib.auth.models import User
from django.test import Client
from workshop import session_control
from workshop.models import Exercise, Participant, Position
user, _ = User.objects.get_or_create(username="begeleider", defaults={"is_superuser": True, "is_staff": True})
exercise = Exercise.objects.filter(slug="wijkgericht-werken").order_by("-version").first()
session = session_control.create_session(facilitator=user, exercise=exercise, title="Wijkteam Noord, werksessie")
names = ("Trio Noord", "Trio Zuid", "Gemeente Oost")
groups = [session_control.add_group(session=session, name=name) for name in names]
sliders = list(exercise.sliders.order_by("order", "pk"))
for i in range(60):
    p = Participant.objects.create(session=session, group=groups[i % 3], token_hash=secrets.token_hex(32))
    for j, slider in enumerate(sliders):
        now = (i * 37 + j * 13) % 70 + 5
        Position.objects.create(participant=p, slider=slider, round=1, value=now, seq=1)
        Position.objects.create(participant=p, slider=slider, round=2, value=min(100, now + 20 + j * 4), seq=1)
client = Client()
client.force_login(user)
print(session.code, [g.pk for g in groups][0], client.cookies["sessionid"].value)
"""


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    env = base_env(SQLITE_PATH=str(tmp_path_factory.mktemp("room") / "db.sqlite3"), SECRET_KEY="room-" + "x" * 50)
    manage("migrate", "--noinput", env=env)
    code, group, cookie = manage("shell", "-c", ROOM_SETUP, env=env).split()[-3:]
    server = Daphne(env)
    try:
        yield server.url, code, int(group), cookie
    finally:
        server.stop()


def control(panel, code: str, action: str, **values: str) -> None:
    """A control as the panel's htmx would post it, with the page's own CSRF header."""
    status = panel.evaluate(
        """async ([url, values]) => {
          const headers = JSON.parse(document.body.getAttribute('hx-headers'));
          headers['HX-Request'] = 'true';
          const r = await fetch(url, {method: 'POST', headers, body: new URLSearchParams(values)});
          return r.status;
        }""",
        [f"/f/s/{code}/do/{action}/", values],
    )
    assert status == 200, (action, values, status)


def fits(page) -> dict[str, int]:
    return page.evaluate(
        "({sh: document.documentElement.scrollHeight, ih: innerHeight,"
        " sw: document.documentElement.scrollWidth, iw: innerWidth})"
    )


def inside(page, selector: str) -> None:
    """Every element matching the selector is wholly inside the viewport."""
    boxes = page.evaluate(
        """(sel) => Array.from(document.querySelectorAll(sel)).map(el => {
          const r = el.getBoundingClientRect();
          return {sel, top: r.top, bottom: r.bottom, left: r.left, right: r.right};
        })""",
        selector,
    )
    assert boxes, f"nothing matches {selector}"
    size = page.viewport_size
    for box in boxes:
        assert box["top"] >= 0 and box["bottom"] <= size["height"] + 0.5, (selector, box, size)
        assert box["left"] >= 0 and box["right"] <= size["width"] + 0.5, (selector, box, size)


BROKEN_WORDS = """(sel) => {
  const broken = [];
  for (const el of document.querySelectorAll(sel)) {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const re = /[^\\s-]+/g;  // a break after a hyphen is a proper break
      let m;
      while ((m = re.exec(node.data))) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const lines = new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top)));
        if (lines.size > 1) broken.push(m[0]);
      }
    }
  }
  return broken;
}"""


def broken_words(page, selector: str) -> list[str]:
    """Words that the browser split over two lines inside the matching elements."""
    return page.evaluate(BROKEN_WORDS, selector)


def font_px(page, selector: str) -> float:
    return page.evaluate(
        "(sel) => Math.min(...Array.from(document.querySelectorAll(sel)).map("
        "el => parseFloat(getComputedStyle(el).fontSize)))",
        selector,
    )


# (name, controls to post, a selector the screen shows once the change is in, what must be wholly in view)
STEPS = [
    # The room has groups, so the lobby shows a QR code per group.
    ("lobby", [], ".screen-lobby .group-joins svg", [".group-joins", "[data-testid=code]"]),
    ("counts", [("start", {})], "[data-testid=screen-count-sturing]", [".screen-plots .plot"]),
    (
        "results",
        [("results", {"mode": "shown"}), ("timer", {"minutes": "5"})],
        "[data-testid=screen-timer]",
        [".screen-plots .plot", "[data-testid=screen-timer]"],
    ),
    (
        "per-slider",
        [("results", {"mode": "per_slider"}), ("slider_results", {"slider": "sturing", "on": "1"})],
        "[data-testid=screen-median-sturing]",
        [".screen-plots .plot"],
    ),
    (
        "one-slider",
        [("results", {"mode": "hidden"}), ("step", {"direction": "next"})],
        ".screen-live.focus .plot.is-open",
        [".plot.is-open .dotplot, .plot.is-open .hidden-plot", ".plot.is-open .focus-count", ".screen-plots .plot"],
    ),
    (
        "discussion",
        [("timer_stop", {}), ("discussion", {}), ("results", {"mode": "shown"})],
        ".screen-discussion .dot",
        [".plot"],
    ),
    (
        "reveal",
        [("reveal", {"on": "1"})],
        ".stage [data-testid=screen-profile]",
        [".stage .profile-name", ".stage .profile-description", "[data-testid=screen-assignment]", ".match-line"],
    ),
    (
        "one-group",
        [("reveal", {"on": "0"}), ("screen", {"view": "group", "group": "{group}"})],
        ".group-title",
        [".plot"],
    ),
    ("groups", [("screen", {"view": "groups", "group": "{group}"})], ".group-cards", [".group-card"]),
    (
        "round2",
        [("screen", {"view": "room", "group": "{group}"}), ("round2", {}), ("results", {"mode": "shown"})],
        ".screen-positioning [data-testid=screen-median-sturing]",
        [".screen-plots .plot"],
    ),
    (
        "round2-reveal",
        [("discussion", {}), ("reveal", {"on": "1"})],
        ".stage .two-rounds",
        [".stage .two-rounds", ".stage .profile-description", "[data-testid=screen-assignment]"],
    ),
]


def test_the_projector_screen_fits_every_phase_at_three_sizes(browser, room):
    from playwright.sync_api import expect

    url, code, group, cookie = room
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="nl-NL")
    context.add_cookies([{"name": "sessionid", "value": cookie, "url": url}])
    panel = context.new_page()
    panel.goto(f"{url}/f/s/{code}/")
    screen = context.new_page()
    screen.set_viewport_size({"width": 1920, "height": 1080})
    screen.goto(f"{url}/f/s/{code}/screen/")
    expect(screen.get_by_test_id("joined")).to_have_text("60")

    for name, controls, ready, in_view in STEPS:
        for action, values in controls:
            control(panel, code, action, **{k: v.format(group=group) for k, v in values.items()})
        expect(screen.locator(ready).first).to_be_visible()
        for width, height in PROJECTORS:
            screen.set_viewport_size({"width": width, "height": height})
            screen.wait_for_timeout(150)
            size = fits(screen)
            assert size["sh"] <= size["ih"] and size["sw"] <= size["iw"], (name, width, height, size)
            for selector in in_view:
                inside(screen, selector)
            assert broken_words(screen, "h1, h2, .profile-name, .poles span") == [], (name, width, height)
            screen.screenshot(path=ARTIFACTS / f"screen-{name}-{width}x{height}.png", animations="disabled")
        # Readable at the back of the room: at 1920 x 1080 slider names and numbers are 28 px or more.
        if screen.locator(".screen-plots .plot-head h2").count() and name not in ("reveal", "round2-reveal"):
            assert font_px(screen, ".screen-plots .plot-head h2") >= 28, name
            assert font_px(screen, ".screen-plots .plot-stats strong") >= 28, name
        if name in ("reveal", "round2-reveal"):
            assert font_px(screen, ".stage [data-testid=screen-profile]") >= 56
            expect(screen.get_by_test_id("screen-runner-up")).to_be_visible()
        if name == "one-slider":
            expect(screen.locator(".plot.is-open .focus-count")).to_have_text("60 van 60 geplaatst")
        if name in ("lobby", "results", "reveal", "round2-reveal"):
            accessible(screen, f"screen, {name}")

    # In English the reveal still fits: longer profile names, the same stage.
    context.add_cookies([{"name": "django_language", "value": "en", "url": url}])
    screen.reload()
    expect(screen.locator(".stage .two-rounds")).to_contain_text("Now (round 1)")
    for width, height in PROJECTORS:
        screen.set_viewport_size({"width": width, "height": height})
        screen.wait_for_timeout(150)
        size = fits(screen)
        assert size["sh"] <= size["ih"] and size["sw"] <= size["iw"], ("en", width, height, size)
        inside(screen, "[data-testid=screen-assignment]")
        assert broken_words(screen, "h1, h2, .profile-name") == [], ("en", width, height)
        screen.screenshot(path=ARTIFACTS / f"screen-round2-reveal-en-{width}x{height}.png", animations="disabled")
    context.close()


def test_the_control_panel_fits_a_laptop_and_drives_the_projector_by_keyboard(browser, tmp_path):
    """At 1366 x 768: the steps in one band with one primary button; N, S, R and F run the projector."""
    from playwright.sync_api import expect

    env = base_env(SQLITE_PATH=str(tmp_path / "db.sqlite3"), SECRET_KEY="panel-" + "x" * 50)
    manage("migrate", "--noinput", env=env)
    code, cookie = manage("shell", "-c", SESSION_SETUP, env=env).split()[-2:]
    server = Daphne(env)
    try:
        context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="nl-NL")
        context.add_cookies([{"name": "sessionid", "value": cookie, "url": server.url}])
        panel = context.new_page()
        panel.on("dialog", lambda dialog: dialog.accept())
        panel.goto(f"{server.url}/f/s/{code}/")
        screen = context.new_page()
        screen.set_viewport_size({"width": 1280, "height": 720})
        screen.goto(f"{server.url}/f/s/{code}/screen/")
        expect(screen.get_by_test_id("joined")).to_have_text("0")

        # The five steps side by side, inside the first screenful, with exactly one primary button.
        steps = panel.locator(".steps > .step")
        expect(steps).to_have_count(5)
        assert [s.get_attribute("data-step") for s in steps.all()] == ["round", "sliders", "screen", "reveal", "close"]
        box = panel.locator(".steps").bounding_box()
        assert box["y"] + box["height"] <= 768, box
        expect(panel.locator("#controls .button.primary")).to_have_count(1)
        expect(panel.get_by_test_id("shortcuts")).to_be_visible()
        panel.screenshot(path=ARTIFACTS / "control-panel-1366x768.png", animations="disabled")
        accessible(panel, "control panel, steps")

        # N: one slider at a time; the screen gives the open slider the stage.
        panel.locator("body").click(position={"x": 5, "y": 300})
        panel.keyboard.press("n")
        expect(screen.locator(".screen-live.focus .plot.is-open[data-slider=sturing]")).to_be_visible()
        expect(panel.locator("#controls .button.primary")).to_have_count(1)
        expect(panel.locator("#controls .button.primary")).to_contain_text("Volgende schuif")
        panel.keyboard.press("n")
        expect(screen.locator(".plot.is-open[data-slider=aanpak]")).to_be_visible()

        # F freezes the screen on its last frame; S then changes nothing there until F again.
        panel.keyboard.press("f")
        expect(panel.locator("[data-freeze]")).to_have_attribute("aria-pressed", "true")
        panel.keyboard.press("s")
        expect(panel.locator("[aria-pressed=true]", has_text="Alle resultaten tonen")).to_be_visible()
        screen.wait_for_timeout(1000)
        expect(screen.locator(".plot[data-slider=sturing] .dotplot")).to_have_count(0)
        panel.keyboard.press("f")
        expect(screen.locator(".plot[data-slider=sturing] .dotplot")).to_have_count(1)

        # D locks and discusses, R reveals: the primary button moves along with the workshop.
        panel.keyboard.press("d")
        expect(screen.get_by_test_id("screen-phase")).to_have_text("Bespreking")
        expect(panel.locator("#controls .button.primary")).to_contain_text("Profiel onthullen")
        panel.keyboard.press("r")
        expect(screen.locator(".stage")).to_be_visible()
        expect(panel.locator("#controls .button.primary")).to_have_text("Ook op telefoons onthullen")
        # Typing in a field is not a shortcut.
        panel.locator("details.more", has_text="Groepen").locator("summary").click()
        panel.locator("#group-name").fill("Trio R")
        expect(screen.locator(".stage")).to_be_visible()
        context.close()
    finally:
        server.stop()


def test_the_lobby_with_a_qr_code_per_group_fits(browser):
    """`group_joins` (from the server, when it provides it): one QR code per group, still one screenful."""
    from types import SimpleNamespace

    import segno
    from django.template.loader import render_to_string
    from django.utils import timezone, translation
    from django.utils.safestring import mark_safe

    from tests.conftest import ROOT
    from workshop import workflow

    def qr(url: str) -> str:
        return mark_safe(segno.make(url, error="m").svg_inline(scale=8, border=2, omitsize=True))

    session = SimpleNamespace(
        title="Wijkteam Noord", status="lobby", code="K7MPQ3", timer_ends_at=None, joining_allowed=True,
        open_sliders=[], profile_revealed=False, screen="room",
    )  # fmt: skip
    names = ["Trio Noord", "Trio Zuid", "Gemeente Oost", "Wijkteam West", "Corporatie", "Welzijn"]
    context = {
        "session": session,
        "joined": 12,
        "flow": workflow.flow(workflow.State(status="lobby", round=1, slider_keys=(), open_sliders=()), timezone.now()),
        "info": SimpleNamespace(sliders=range(5)),
        "qr": qr("http://192.168.1.20:8000/j/K7MPQ3/"),
        "short_host": "192.168.1.20:8000",
        "short_path": "/j/K7MPQ3",
        "group_joins": [
            {
                "id": i,
                "name": name,
                "join_url": f"/j/K7MPQ3/?g={i}",
                "qr": qr(f"http://192.168.1.20:8000/j/K7MPQ3/?g={i}"),
            }
            for i, name in enumerate(names)
        ],
    }
    with translation.override("nl"):
        html = render_to_string("workshop/screen.html#live", context)
    css = (ROOT / "static" / "workshop" / "app.css").read_text()
    page = browser.new_page()
    page.set_content(
        f'<!doctype html><html lang="nl"><head><style>{css}</style></head>'
        f'<body class="screen-page"><main><div class="screen">{html}</div></main></body></html>'
    )
    for width, height in PROJECTORS:
        page.set_viewport_size({"width": width, "height": height})
        size = fits(page)
        assert size["sh"] <= size["ih"] and size["sw"] <= size["iw"], (width, height, size)
        inside(page, ".group-joins svg")
        inside(page, ".lobby .code")
        assert page.locator(".group-joins li").count() == len(names)
        page.screenshot(path=ARTIFACTS / f"screen-lobby-groups-{width}x{height}.png")
    page.close()
