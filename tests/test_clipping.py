"""Nothing clipped, and type for the back row: the projector screen, the phone and the control panel in
every phase, at the three projector sizes and two phones (the control panel at 1366 x 768 and the three
projector sizes), with 11 and with 60 participants.

Two rooms: 11 people with the default exercise (whose type sizes are asserted: slider names, medians
and poles 28 px at 1920 x 1080, the profile name 56 px; two thirds of that at 1280 and 1024), and 60
people with an exercise of as many sliders as the format allows (12) whose every text is as long as it
allows (nothing may be cut: the screen shrinks such text to fit). Positions come from the ORM, not from
60 browsers; one real phone joins each room and is looked at in every phase. One browser and one server
for the whole matrix.
"""

from __future__ import annotations

import pytest

from tests.clipping import clipped, describe, dot_widths, font_sizes
from tests.servers import Daphne, base_env, manage
from tests.test_browser import ARTIFACTS
from tests.test_room_screen import control

pytestmark = pytest.mark.browser

PROJECTORS = [(1920, 1080), (1280, 720), (1024, 768)]
PHONES = [(360, 800), (375, 667)]
PANEL = (1366, 768)
# At 1920 x 1080; two thirds of it at the smaller projectors.
NAME_PX, MEDIAN_PX, POLE_PX, PROFILE_PX = 28, 28, 28, 56

ROOM_SETUP = """
import json, secrets
from django.contrib.auth.models import User
from django.test import Client
from workshop import exercise_format, exercises, session_control
from workshop.models import Exercise, Participant, Position
people, long_texts = {people}, {long_texts}
user, _ = User.objects.get_or_create(username="begeleider", defaults={{"is_superuser": True, "is_staff": True}})
data = json.loads(open("workshop/data/wijkgericht-werken.json").read())
if long_texts:
    words = {{
        "nl": "Langetermijnopgaven vragen om samenwerking tussen bewoners, wijkprofessionals en vakafdelingen "
        "in een gebiedsgerichte werkwijze met eigen budget en mandaat ",
        "en": "Long-term challenges call for collaboration between residents, neighbourhood professionals and "
        "line departments in an area-based way of working with its own budget and mandate ",
    }}
    def longest(field, lang, start):
        limit = exercise_format.TEXT_LIMITS[field]
        text = start + " " + words[lang] * (limit // len(words[lang]) + 2)
        return text[:limit].rsplit(" ", 1)[0]
    data["slug"] = "lange-teksten"
    # As many sliders as the format allows, each a copy of one of the five under a key of its own.
    for n in range(len(data["sliders"]), exercise_format.MAX_SLIDERS):
        original = data["sliders"][n % 5]
        data["sliders"].append({{**original, "key": f"extra{{n}}"}})
        for profile in data["profiles"]:
            profile["target"][f"extra{{n}}"] = profile["target"][original["key"]]
    for item in data["sliders"] + data["profiles"]:
        for field in ("label", "left", "right", "explanation", "name", "description", "assignment"):
            if field in item:
                item[field] = {{lang: longest(field, lang, text) for lang, text in item[field].items()}}
exercise = exercises.import_exercise(data=data)
session = session_control.create_session(facilitator=user, exercise=exercise, title="Wijkteam Noord, werksessie")
groups = [session_control.add_group(session=session, name=n) for n in ("Trio Noord", "Trio Zuid", "Gemeente Oost")]
sliders = list(exercise.sliders.order_by("order", "pk"))
for i in range(people):
    p = Participant.objects.create(session=session, group=groups[i % 3], token_hash=secrets.token_hex(32))
    for j, slider in enumerate(sliders):
        # A tall pile at 100 on some sliders in round 2, spread on others.
        now = (i * 37 + j * 13) % 70 + 5
        Position.objects.create(participant=p, slider=slider, round=1, value=now, seq=1)
        Position.objects.create(participant=p, slider=slider, round=2, value=min(100, now + 20 + j * 9), seq=1)
client = Client()
client.force_login(user)
print(session.code, groups[0].pk, sliders[1].key, client.cookies["sessionid"].value)
"""

# (name, controls, a JS condition on the screen once the change is in)
PHASES = [
    ("lobby", [], "document.querySelector('.screen-lobby .lobby')"),
    ("open-hidden", [("start", {})], "document.querySelector('[data-testid^=screen-count-]')"),
    ("open-shown", [("results", {"mode": "shown"})], "document.querySelector('[data-testid^=screen-median-]')"),
    ("one-slider", [("step", {"direction": "next"})], "document.querySelector('.screen-live.focus .plot.is-open')"),
    (
        "locked",
        [("step", {"direction": "next"}), ("slider", {"slider": "{second}", "on": "0"})],
        "!document.querySelector('.plot.is-open') && document.querySelector('.screen-positioning')",
    ),
    ("discussing", [("discussion", {})], "document.querySelector('.screen-discussion')"),
    (
        "revealed-1",
        [("reveal", {"on": "1"}), ("reveal_phones", {"on": "1"})],
        "document.querySelector('.stage [data-testid=screen-profile]')",
    ),
    ("groups", [("screen", {"view": "groups", "group": "{group}"})], "document.querySelector('.group-cards')"),
    ("one-group", [("screen", {"view": "group", "group": "{group}"})], "document.querySelector('.group-title')"),
    (
        "round2-open",
        [("screen", {"view": "room", "group": "{group}"}), ("round2", {}), ("results", {"mode": "shown"})],
        "document.querySelector('.screen-positioning [data-testid^=screen-median-]')"
        " && !document.querySelector('.stage')",
    ),
    (
        "round2-revealed",
        [("discussion", {}), ("reveal", {"on": "1"}), ("reveal_phones", {"on": "1"})],
        "document.querySelector('.stage .two-rounds')",
    ),
    ("round2-groups", [("screen", {"view": "groups", "group": "{group}"})], "document.querySelector('.group-cards')"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = base_env(SQLITE_PATH=str(tmp_path_factory.mktemp("clip") / "db.sqlite3"), SECRET_KEY="clip-" + "x" * 50)
    manage("migrate", "--noinput", env=env)
    server = Daphne(env)
    try:
        yield server.url, env
    finally:
        server.stop()


def room(env, people: int, long_texts: bool) -> tuple[str, int, str, str]:
    """A session with `people` participants placed in both rounds: its code, first group, second slider, cookie."""
    setup = ROOM_SETUP.format(people=people, long_texts=long_texts)
    code, group, second, cookie = manage("shell", "-c", setup, env=env).split()[-4:]
    return code, int(group), second, cookie


def look(page, name: str, size: tuple[int, int], *, scrolls: bool = False) -> list[dict]:
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.wait_for_timeout(60)  # the screen's fitting runs on the frame after a resize
    page.screenshot(path=ARTIFACTS / f"{name}-{size[0]}x{size[1]}.png", full_page=scrolls, animations="disabled")
    return clipped(page, scrolls=scrolls)


def type_sizes(screen, phase: str, width: int) -> list[str]:
    """What is too small for the back row at this size ([] when all is well)."""
    scale = 1 if width >= 1920 else 2 / 3
    wanted = [
        (".screen-plots .plot-head h2", NAME_PX),
        (".screen-plots .plot-stats strong", MEDIAN_PX),
        (".screen-plots .poles span", POLE_PX),
        (".stage [data-testid=screen-profile]", PROFILE_PX),
        (".group-card-name, .group-card-slider dt, .group-card-slider dd", NAME_PX),
    ]
    small = []
    for selector, px in wanted:
        sizes = font_sizes(screen, selector)
        if sizes and min(sizes) < px * scale - 0.05:
            small.append(f"{phase} {width}: {selector} {min(sizes):.1f} px < {px * scale:.1f}")
    return small


@pytest.mark.parametrize(("people", "long_texts"), [(11, False), (60, True)], ids=["11-default", "60-longest"])
def test_nothing_is_clipped_and_the_back_row_can_read_it(browser, server, people, long_texts):
    from playwright.sync_api import expect

    url, env = server
    code, group, second, cookie = room(env, people, long_texts)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tag = f"clip-{people}"

    facilitator = browser.new_context(viewport={"width": PANEL[0], "height": PANEL[1]}, locale="nl-NL")
    facilitator.add_cookies([{"name": "sessionid", "value": cookie, "url": url}])
    panel = facilitator.new_page()
    panel.on("dialog", lambda dialog: dialog.accept())
    panel.goto(f"{url}/f/s/{code}/")
    screen = facilitator.new_page()
    screen.set_viewport_size({"width": 1920, "height": 1080})
    screen.goto(f"{url}/f/s/{code}/screen/")
    expect(screen.get_by_test_id("joined")).to_have_text(str(people))
    phone_context = browser.new_context(
        viewport={"width": 360, "height": 800}, is_mobile=True, has_touch=True, locale="nl-NL"
    )
    phone = phone_context.new_page()
    phone.goto(f"{url}/j/{code}/")
    expect(phone.locator("#connection")).to_have_attribute("data-state", "connected")
    phone.locator("#group-buttons button").first.tap()
    expect(phone.get_by_test_id("my-group")).to_be_visible()
    expect(screen.get_by_test_id("joined")).to_have_text(str(people + 1))

    failures: list[str] = []
    for phase, controls, ready in PHASES:
        for action, values in controls:
            control(panel, code, action, **{k: v.format(group=group, second=second) for k, v in values.items()})
        screen.wait_for_function(f"() => !!({ready})")
        if phase == "open-hidden":
            # The phone places every slider (Enter on each), so its own view has answers in every phase.
            for handle in phone.locator("input[type=range]").all():
                expect(handle).to_be_enabled()
                handle.focus()
                phone.keyboard.press("Enter")
            expect(phone.locator("#placed")).to_have_class("progress-line done")
        for size in PROJECTORS:
            problems = look(screen, f"{tag}-screen-{phase}", size)
            if problems:
                failures.append(f"screen {phase} {size}:\n{describe(problems)}")
            if not long_texts:
                failures += type_sizes(screen, phase, size[0])
            widths = dot_widths(screen, ".screen-plots .dot")
            if widths and max(widths) - min(widths) > 0.6:
                failures.append(f"screen {phase} {size}: dots of different sizes {sorted(set(widths))}")
        for size in PHONES:
            problems = look(phone, f"{tag}-phone-{phase}", size, scrolls=True)
            if problems:
                failures.append(f"phone {phase} {size}:\n{describe(problems)}")
        # The control panel on the facilitator's laptop, or on a projector's screen when mirrored.
        for size in [PANEL, *PROJECTORS]:
            if problems := look(panel, f"{tag}-panel-{phase}", size, scrolls=True):
                failures.append(f"control panel {phase} {size}:\n{describe(problems)}")

    # Closed: the screen says so, the phone keeps its result.
    panel.evaluate(
        """async (url) => {
          const headers = JSON.parse(document.body.getAttribute('hx-headers'));
          await fetch(url, {method: 'POST', headers});
        }""",
        f"/f/s/{code}/close/",
    )
    screen.wait_for_function("() => !!document.querySelector('.screen-closed')")
    for size in PROJECTORS:
        if problems := look(screen, f"{tag}-screen-closed", size):
            failures.append(f"screen closed {size}:\n{describe(problems)}")
    for size in PHONES:
        if problems := look(phone, f"{tag}-phone-closed", size, scrolls=True):
            failures.append(f"phone closed {size}:\n{describe(problems)}")
    phone_context.close()
    facilitator.close()
    assert not failures, "\n".join(failures)
