"""The control panel on a facilitator's laptop (issue 24, point 3): at 1366 x 768 the steps, the live counts and
the plots stay in view without scrolling in every phase, with 60 phones and three groups, whichever fold-out is
open; the shortcut keys work whatever has focus except a text field; the open slider is named; the join address
breaks only between its host and its path.

Two sessions in one SQLite file: an empty one (the lobby as a facilitator first sees it) and a room of 60
participants in three groups with answers in both rounds. Every step goes through the panel's own endpoints or
keys; what the server did is read from the database file itself.
"""

import sqlite3
import time

import pytest

from tests.servers import Daphne, base_env, manage
from tests.test_browser import ARTIFACTS, accessible
from tests.test_room_screen import ROOM_SETUP, control

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 768}

EMPTY_SETUP = """
from django.contrib.auth.models import User
from workshop import session_control
from workshop.models import Exercise
user = User.objects.get(username="begeleider")
exercise = Exercise.objects.filter(slug="wijkgericht-werken").order_by("-version").first()
print(session_control.create_session(facilitator=user, exercise=exercise, title="Wijkteam Noord, werksessie").code)
"""

# Where every part of the panel is, and what sticks out of where it belongs.
MEASURE = """() => {
  const rect = el => {
    const r = el.getBoundingClientRect();
    return {top: r.top, bottom: r.bottom, left: r.left, right: r.right};
  };
  const all = sel => Array.from(document.querySelectorAll(sel));
  const drawer = all('details.more[open] > .fold-body').map(rect);
  // Anything in a step card that reaches outside the card (a menu, a long word, a button).
  const outside = [];
  for (const step of all('.steps > .step')) {
    const s = step.getBoundingClientRect();
    for (const el of step.querySelectorAll('*')) {
      if (el.closest('.fold-body')) continue;
      const r = el.getBoundingClientRect();
      if (!r.width && !r.height) continue;
      if (r.left < s.left - 0.5 || r.right > s.right + 0.5 || r.bottom > s.bottom + 0.5)
        outside.push(`${step.dataset.step}: ${el.tagName.toLowerCase()}.${el.className}`);
    }
  }
  // Text wider than its own box (clipped or spilling sideways) anywhere on the panel.
  const clipped = all('#dashboard *').filter(el => {
    const s = getComputedStyle(el);
    if (s.display === 'none' || s.visibility === 'hidden') return false;
    if (el.closest('details:not([open]) > :not(summary)') || el.closest('svg')) return false;
    if (['svg', 'option', 'meter', 'textarea', 'input', 'select'].includes(el.tagName.toLowerCase())) return false;
    // Scroll containers of their own, and what is there for screen readers only.
    if (el.matches('.control-grid, .fold-body, .groups-table, .visually-hidden')) return false;
    return el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0;
  }).map(el => `${el.tagName.toLowerCase()}.${el.className}: ${el.scrollWidth} > ${el.clientWidth}`);
  return {
    scrollHeight: document.documentElement.scrollHeight,
    scrollWidth: document.documentElement.scrollWidth,
    steps: all('.steps > .step').map(rect),
    counts: all('#live .counts').map(rect),
    plots: all('#live .plots > .plot').map(rect),
    openPlots: all('#live .plots > .plot.is-open').map(rect),
    drawer, outside, clipped,
  };
}"""


def in_view(box: dict, what: str, where: str) -> None:
    assert box["top"] >= -0.5 and box["bottom"] <= LAPTOP["height"] + 0.5, (where, what, box)
    assert box["left"] >= -0.5 and box["right"] <= LAPTOP["width"] + 0.5, (where, what, box)


def check(page, where: str, *, closed: bool = False) -> dict:
    """The whole panel in one screenful: steps, counts, every plot and an open drawer inside the viewport."""
    page.wait_for_timeout(100)  # one frame after a swap
    m = page.evaluate(MEASURE)
    try:
        fits(m, where, closed=closed)
    except AssertionError:
        page.screenshot(path=ARTIFACTS / f"panel-failed-{where.replace(', ', '-').replace(' ', '-')}.png")
        raise
    return m


def fits(m: dict, where: str, *, closed: bool) -> None:
    assert m["scrollHeight"] <= LAPTOP["height"] and m["scrollWidth"] <= LAPTOP["width"], (where, m)
    if not closed:
        assert len(m["steps"]) == 5, where
    assert m["counts"] and len(m["plots"]) == 5, (where, m)
    for what in ("steps", "counts", "plots", "drawer"):
        for box in m[what]:
            in_view(box, what, where)
    assert m["outside"] == [], (where, m["outside"])
    assert m["clipped"] == [], (where, m["clipped"])


class Db:
    """The server's own state, read from its SQLite file."""

    def __init__(self, path: str, code: str) -> None:
        self.path, self.code = path, code

    def session(self) -> dict:
        with sqlite3.connect(self.path) as db:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT * FROM workshop_session WHERE code = ?", (self.code,)).fetchone()
            return dict(row)

    def wait(self, field: str, value: object, why: str, timeout: float = 10) -> None:
        ends = time.monotonic() + timeout
        while (now := self.session()[field]) != value:
            assert time.monotonic() < ends, f"{why}: {field} is {now!r}, not {value!r}"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def laptop(tmp_path_factory, browser):
    path = str(tmp_path_factory.mktemp("panel") / "db.sqlite3")
    env = base_env(SQLITE_PATH=path, SECRET_KEY="panel-fits-" + "x" * 50)
    manage("migrate", "--noinput", env=env)
    code, group, cookie = manage("shell", "-c", ROOM_SETUP, env=env).split()[-3:]
    empty = manage("shell", "-c", EMPTY_SETUP, env=env).split()[-1]
    server = Daphne(env)
    context = browser.new_context(viewport=LAPTOP, locale="nl-NL")
    context.add_cookies([{"name": "sessionid", "value": cookie, "url": server.url}])
    try:
        yield server.url, context, path, code, int(group), empty
    finally:
        context.close()
        server.stop()


FOLDS = ["sliders", "timer", "screen", "room", "groups"]


def open_fold(page, fold: str) -> None:
    page.locator(f"details[data-fold={fold}] > summary").click()
    page.wait_for_function(f"document.querySelector('details[data-fold={fold}]').open")


def test_the_empty_lobby_fits_and_names_the_join_address_whole(laptop):
    url, context, _, _, _, empty = laptop
    panel = context.new_page()
    panel.goto(f"{url}/f/s/{empty}/")
    check(panel, "lobby, nobody yet")
    panel.screenshot(path=ARTIFACTS / "panel-lobby-empty-1366x768.png")
    # The address breaks between host and path at most, never inside the host, the port or the code.
    lines = panel.evaluate(
        """() => Array.from(document.querySelectorAll('.join-panel .short-url > span')).map(span => {
          const tops = new Set(Array.from(span.getClientRects()).map(r => Math.round(r.top)));
          return [span.textContent, tops.size];
        })"""
    )
    assert [n for _, n in lines] == [1, 1] and lines[1][0].endswith(empty), lines
    for fold in ("sliders", "timer", "room", "groups"):
        open_fold(panel, fold)
        check(panel, f"lobby, {fold} open")
        panel.screenshot(path=ARTIFACTS / f"panel-lobby-{fold}-1366x768.png")
    accessible(panel, "control panel, lobby with a fold-out open")
    panel.close()


# (name, controls to post first, what the panel shows once they are in)
PHASES = [
    ("lobby", [], "[data-stage=lobby]"),
    ("open", [("start", {})], "[data-stage=open]"),
    ("results", [("results", {"mode": "shown"}), ("timer", {"minutes": "5"})], "[data-testid=control-timer]"),
    ("per-slider", [("timer_stop", {}), ("results", {"mode": "per_slider"})], "#controls"),
    ("one-slider", [("results", {"mode": "shown"}), ("step", {"direction": "next"})], "#live .plot.is-open"),
    ("locked", [("discussion", {})], "[data-stage=discussing]"),
    ("revealed", [("reveal", {"on": "1"})], "[data-stage=revealed]"),
    ("groups-screen", [("screen", {"view": "groups", "group": "{group}"})], "#controls"),
    ("round2", [("screen", {"view": "room", "group": "{group}"}), ("round2", {})], "[data-stage=open]"),
    ("round2-revealed", [("discussion", {}), ("reveal", {"on": "1"})], "[data-stage=revealed]"),
]


def measured(m: dict) -> str:
    return (
        f"page {m['scrollHeight']} px tall, steps end at y = {max(b['bottom'] for b in m['steps']):.0f}, "
        f"plots from y = {min(b['top'] for b in m['plots']):.0f} to {max(b['bottom'] for b in m['plots']):.0f}"
    )


def test_every_phase_with_60_phones_and_groups_fits_with_any_fold_out_open(laptop, figure):
    from playwright.sync_api import expect

    url, context, _, code, group, _ = laptop
    panel = context.new_page()
    panel.on("dialog", lambda dialog: dialog.accept())
    panel.goto(f"{url}/f/s/{code}/")
    expect(panel.get_by_test_id("joined")).to_have_text("60")
    for name, controls, ready in PHASES:
        for action, values in controls:
            control(panel, code, action, **{k: v.format(group=group) for k, v in values.items()})
        panel.reload()  # the page as the facilitator opens it; the socket's swaps are tested below
        expect(panel.locator(ready).first).to_be_attached()
        expect(panel.get_by_test_id("joined")).to_have_text("60")
        figure(f"control panel at 1366x768, {name}: {measured(check(panel, name))}")
        panel.screenshot(path=ARTIFACTS / f"panel-{name}-1366x768.png")
        for fold in FOLDS:
            open_fold(panel, fold)
            check(panel, f"{name}, {fold} open")
            if name in ("open", "per-slider", "round2") or fold == "sliders":
                panel.screenshot(path=ARTIFACTS / f"panel-{name}-{fold}-1366x768.png")
            panel.keyboard.press("Escape")
            expect(panel.locator("details.more[open]")).to_have_count(0)
        if name == "one-slider":
            # The open slider is named in the steps, and marked in the live view.
            expect(panel.get_by_test_id("control-sliders")).to_contain_text("Sturing")
            expect(panel.locator("#live .plot.is-open h2")).to_have_text("Sturing")
        if name in ("results", "revealed"):
            accessible(panel, f"control panel, {name}")
        if name in ("open", "revealed"):
            # English labels are longer; the same screenful holds them.
            context.add_cookies([{"name": "django_language", "value": "en", "url": url}])
            panel.reload()
            expect(panel.get_by_test_id("control-phase")).to_contain_text("Round")
            check(panel, f"{name}, English")
            open_fold(panel, "sliders")
            check(panel, f"{name}, English, sliders open")
            panel.screenshot(path=ARTIFACTS / f"panel-{name}-en-1366x768.png")
            context.add_cookies([{"name": "django_language", "value": "nl", "url": url}])
            panel.reload()
    # Closed: the live view stays, in one screenful.
    panel.get_by_role("button", name="Sessie afsluiten").click()
    panel.wait_for_url(f"**/f/s/{code}/results/")
    panel.goto(f"{url}/f/s/{code}/")
    check(panel, "closed", closed=True)
    panel.screenshot(path=ARTIFACTS / "panel-closed-1366x768.png")
    panel.close()


def test_shortcut_keys_work_after_opening_any_fold_out(laptop, tmp_path):
    """A fold-out's summary keeps the focus after it is clicked; the keys must still reach the panel."""
    from playwright.sync_api import expect

    _, context, _, _, _, _ = laptop
    # A room of its own, so that the phase test's order does not matter.
    path = str(tmp_path / "db.sqlite3")
    env = base_env(SQLITE_PATH=path, SECRET_KEY="panel-keys-" + "x" * 50)
    manage("migrate", "--noinput", env=env)
    code, _, cookie = manage("shell", "-c", ROOM_SETUP, env=env).split()[-3:]
    server = Daphne(env)
    try:
        context.add_cookies([{"name": "sessionid", "value": cookie, "url": server.url}])
        panel = context.new_page()
        panel.on("dialog", lambda dialog: dialog.accept())
        panel.goto(f"{server.url}/f/s/{code}/")
        db = Db(path, code)
        control(panel, code, "start")
        for fold in FOLDS:
            control(panel, code, "results", mode="hidden")
            db.wait("results", "hidden", "set up")
            expect(panel.locator("#controls [data-shortcut=s]")).to_have_attribute("aria-pressed", "false")
            open_fold(panel, fold)
            assert panel.evaluate("document.activeElement.tagName") == "SUMMARY", fold
            panel.keyboard.press("s")
            db.wait("results", "shown", f"S after opening {fold}")
            # The fold stays open through the swap, and the keys keep working from there.
            expect(panel.locator(f"details[data-fold={fold}]")).to_have_attribute("open", "")
            before = db.session()["open_sliders"]
            panel.keyboard.press("n")
            ends = time.monotonic() + 10
            while db.session()["open_sliders"] == before:
                assert time.monotonic() < ends, f"N after opening {fold} and pressing S"
                time.sleep(0.05)
            panel.keyboard.press("Escape")
            control(panel, code, "start")
        # A change from elsewhere (another tab: a plain fetch, not htmx) reaches the panel over its socket; the
        # swap keeps the fold-out open and the focus where it was, so the next key still works.
        control(panel, code, "results", mode="hidden")
        open_fold(panel, "timer")
        control(panel, code, "results", mode="shown")
        expect(panel.locator("#controls [data-shortcut=s]")).to_have_attribute("aria-pressed", "true")
        expect(panel.locator("details[data-fold=timer]")).to_have_attribute("open", "")
        assert panel.evaluate("document.activeElement.closest('details')?.dataset.fold") == "timer"
        panel.keyboard.press("Escape")
        expect(panel.locator("details.more[open]")).to_have_count(0)
        # A checkbox is no text field: the keys work from it too.
        control(panel, code, "results", mode="hidden")
        expect(panel.locator("#controls [data-shortcut=s]")).to_have_attribute("aria-pressed", "false")
        open_fold(panel, "timer")
        panel.locator("details[data-fold=timer] input[name=lock]").focus()
        panel.keyboard.press("s")
        db.wait("results", "shown", "S from the timer's checkbox")
        panel.keyboard.press("Escape")
        # A text field is typing, not a shortcut.
        open_fold(panel, "groups")
        panel.locator("#group-name").fill("Trio S")
        control(panel, code, "results", mode="hidden")
        panel.locator("#group-name").press("s")
        panel.wait_for_timeout(300)
        assert db.session()["results"] == "hidden"
        panel.close()
    finally:
        server.stop()
