"""The moment in the room, on the phones: real taps, clicks, drags and keys in Chromium at 360 x 800 and 375 x 667."""

import re
import time

import pytest

from tests.servers import SESSION_SETUP, Daphne, base_env, manage
from tests.test_browser import ARTIFACTS, accessible
from tests.test_room_screen import broken_words, control

pytestmark = pytest.mark.browser

PHONES = {"360": {"width": 360, "height": 800}, "375": {"width": 375, "height": 667}}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = base_env(SQLITE_PATH=str(tmp_path_factory.mktemp("phones") / "db.sqlite3"), SECRET_KEY="phone-" + "x" * 50)
    manage("migrate", "--noinput", env=env)
    server = Daphne(env)
    try:
        yield server.url, env
    finally:
        server.stop()


@pytest.fixture
def workshop(browser, server):
    """A new session with every slider open, its control panel, and a way to add phones."""
    url, env = server
    code, cookie = manage("shell", "-c", SESSION_SETUP, env=env).split()[-2:]
    facilitator = browser.new_context(viewport={"width": 1366, "height": 768}, locale="nl-NL")
    facilitator.add_cookies([{"name": "sessionid", "value": cookie, "url": url}])
    panel = facilitator.new_page()
    panel.on("dialog", lambda dialog: dialog.accept())
    panel.goto(f"{url}/f/s/{code}/")
    contexts = [facilitator]

    def phone(size: str = "360", **options):
        context = browser.new_context(viewport=PHONES[size], is_mobile=True, has_touch=True, locale="nl-NL", **options)
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{url}/j/{code}/")
        return page

    yield code, panel, phone
    for context in contexts:
        context.close()


def thumb(page, key: str) -> tuple[float, float]:
    """Where the thumb of a range input stands now, in page coordinates."""
    box = page.locator(f"#slider-{key}").bounding_box()
    value = int(page.locator(f"#slider-{key}").input_value())
    # Chromium's thumb is 16 px wide; its centre runs from 8 px to width - 8 px.
    return box["x"] + 8 + (box["width"] - 16) * value / 100, box["y"] + box["height"] / 2


def connected(page, timeout: float = 5_000) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#connection")).to_have_attribute("data-state", "connected", timeout=timeout)


def test_every_intended_answer_counts_on_a_phone(workshop):
    from playwright.sync_api import expect

    code, panel, phone = workshop
    page = phone("360")
    connected(page)
    placed = page.locator("#placed")
    expect(placed).to_have_text("0 van 5 geplaatst")

    # A tap on the thumb where it stands (50) places 50: no change event, still a set.
    page.locator("#slider-sturing").scroll_into_view_if_needed()
    page.touchscreen.tap(*thumb(page, "sturing"))
    expect(page.locator("#state-sturing")).to_have_text("Opgeslagen")
    expect(page.locator(".slider[data-key=sturing] .saved-mark")).to_be_visible()
    expect(placed).to_have_text("1 van 5 geplaatst")
    expect(panel.get_by_test_id("median-sturing")).to_have_text("50")

    # Enter and Space on a focused slider place its value too.
    page.locator("#slider-aanpak").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#state-aanpak")).to_have_text("Opgeslagen")
    page.locator("#slider-verankering").focus()
    page.keyboard.press(" ")
    expect(page.locator("#state-verankering")).to_have_text("Opgeslagen")
    expect(placed).to_have_text("3 van 5 geplaatst")

    # A mouse click on the thumb, and a real drag with the mouse.
    page.locator("#slider-regie").scroll_into_view_if_needed()
    page.mouse.click(*thumb(page, "regie"))
    expect(page.locator("#state-regie")).to_have_text("Opgeslagen")
    page.locator("#slider-horizon").scroll_into_view_if_needed()
    x, y = thumb(page, "horizon")
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 6):
        page.mouse.move(x + 12 * step, y)
    page.mouse.up()
    expect(page.locator("#state-horizon")).to_have_text("Opgeslagen")
    dragged = int(page.locator("#slider-horizon").input_value())
    assert dragged > 60
    expect(placed).to_have_text("5 van 5 geplaatst")
    expect(panel.get_by_test_id("median-horizon")).to_have_text(str(dragged))
    expect(panel.get_by_test_id("n-sturing")).to_have_text("1")

    # "Geen mening" leaves the slider out of the statistics (turning it off: test_phone_states.py).
    abstain = page.locator(".slider[data-key=sturing] .abstain")
    abstain.scroll_into_view_if_needed()
    abstain.tap()
    expect(abstain).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#state-sturing")).to_have_text("Geen mening / weet ik niet")
    expect(panel.get_by_test_id("n-sturing")).to_have_text("0")
    page.screenshot(path=ARTIFACTS / "phone-placed-360.png", full_page=True, animations="disabled")
    accessible(page, "phone, every slider placed")

    # The facilitator resets a slider: the phone says so.
    control(panel, code, "reset", slider="aanpak", confirm="yes")
    expect(page.locator("#notice")).to_contain_text("Aanpak")
    expect(page.locator("#notice")).to_contain_text("gewist")
    expect(page.locator("#state-aanpak")).to_have_text("Nog niet geplaatst")
    expect(placed).to_have_text("4 van 5 geplaatst")


def test_time_up_is_said_once_and_never_that_the_facilitator_closed_the_slider(workshop):
    from playwright.sync_api import expect

    code, panel, phone = workshop
    page = phone("360")
    connected(page)
    page.locator("#slider-sturing").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#state-sturing")).to_have_text("Opgeslagen")

    # The timer runs out: "de tijd is om", not that the facilitator closed the slider.
    control(panel, code, "timer", minutes="0.25", lock="on")
    expect(page.locator("#timer")).to_be_visible()
    expect(page.locator("#phase")).to_have_text("De tijd is om: je antwoorden zijn bewaard.", timeout=25_000)
    expect(page.locator("#slider-sturing")).to_be_disabled()
    # Said once, and never that the facilitator closed the slider.
    expect(page.locator(".slider-extra:visible")).to_have_count(0)
    assert "begeleider heeft" not in page.locator("#sliders").inner_text()
    page.screenshot(path=ARTIFACTS / "phone-time-up-360.png", full_page=True, animations="disabled")


def test_one_slider_at_a_time_and_round_two_starting_where_round_one_ended(workshop):
    from playwright.sync_api import expect

    code, panel, phone = workshop
    page = phone("375")
    connected(page)
    control(panel, code, "step", direction="next")
    expect(page.locator(".slider[data-key=aanpak]")).to_have_class(re.compile(r"\bfolded\b"))
    expect(page.locator(".slider[data-key=sturing]")).not_to_have_class(re.compile(r"\bfolded\b"))
    # The open slider is brought into view, the locked ones fold to a line.
    page.locator("#slider-sturing").focus()
    for _ in range(3):
        page.keyboard.press("PageUp")  # 50 -> 80
    expect(page.locator("#state-sturing")).to_have_text("Opgeslagen")
    control(panel, code, "step", direction="next")
    expect(page.locator(".slider[data-key=sturing]")).to_have_class(re.compile(r"\bfolded\b"))
    expect(page.locator("#slider-aanpak")).to_be_enabled()
    expect(page.locator("#slider-aanpak")).to_be_in_viewport()
    page.screenshot(path=ARTIFACTS / "phone-one-slider-375.png", animations="disabled")

    # Round 2 starts at this phone's round-1 value; one tap confirms "desired = now".
    control(panel, code, "discussion")
    control(panel, code, "round2")
    expect(page.locator("#phase")).to_have_text("Ronde 2: hoe willen we het hebben?")
    handle = page.locator("#slider-sturing")
    expect(handle).to_have_value("80")
    expect(page.locator("#state-sturing")).to_contain_text("ronde 1")
    handle.scroll_into_view_if_needed()
    page.touchscreen.tap(*thumb(page, "sturing"))
    expect(page.locator("#state-sturing")).to_have_text("Opgeslagen")
    expect(panel.get_by_test_id("median-sturing")).to_have_text("80")
    page.screenshot(path=ARTIFACTS / "phone-round2-375.png", full_page=True, animations="disabled")


def test_the_reveal_reaches_the_phone_whole_and_announced(workshop):
    from playwright.sync_api import expect

    code, panel, phone = workshop
    page = phone("375")
    connected(page)
    # Positions near the "Wijkbeheer & dienstverlening" profile.
    for key, value in {"sturing": 25, "aanpak": 25, "verankering": 20, "regie": 35, "horizon": 15}.items():
        handle = page.locator(f"#slider-{key}")
        handle.focus()
        page.keyboard.press("Home")
        for _ in range(value):
            page.keyboard.press("ArrowRight")
        expect(page.locator(f"#state-{key}")).to_have_text("Opgeslagen")
    control(panel, code, "discussion")
    control(panel, code, "results", mode="shown")
    control(panel, code, "reveal", on="1")
    control(panel, code, "reveal_phones", on="1")
    card = page.locator("#reveal")
    expect(card).to_be_visible()
    expect(page.locator("#reveal-name")).to_have_text("Wijkbeheer & dienstverlening")
    # The card comes into view at the top of the screen (after a smooth scroll).
    for _ in range(40):
        if abs(card.evaluate("el => el.getBoundingClientRect().top")) < 40:
            break
        page.wait_for_timeout(100)
    assert abs(card.evaluate("el => el.getBoundingClientRect().top")) < 40
    expect(page.locator("#announce")).to_contain_text("Wijkbeheer & dienstverlening")
    # No name or heading breaks mid-word on a 375 px phone.
    assert broken_words(page, "#reveal h2, #reveal h3, .slider-label, h1") == []
    page.screenshot(path=ARTIFACTS / "phone-reveal-375.png", animations="disabled")
    page.set_viewport_size(PHONES["360"])
    assert broken_words(page, "#reveal h2, #reveal h3, .slider-label, h1") == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.set_viewport_size(PHONES["375"])
    accessible(page, "phone, the reveal card")
    page.get_by_role("button", name="Profiel sluiten").click()
    expect(card).to_be_hidden()


def test_a_locked_room_says_so_once_and_shows_no_dead_sliders(workshop):
    from playwright.sync_api import expect

    code, panel, phone = workshop
    control(panel, code, "room", on="1")
    page = phone("360")
    expect(page.locator("#notice")).to_have_text(
        "De zaal is vergrendeld: er kan niemand meer bij. Vraag het de begeleider."
    )
    expect(page.locator("#sliders")).to_be_hidden()
    expect(page.locator("#connection")).to_be_hidden()
    expect(page.locator("#phase")).to_be_hidden()
    # A refusal looks like one: its own colour and icon, not the green of a success.
    expect(page.locator("#notice")).to_have_attribute("data-kind", "refused")
    assert page.evaluate("getComputedStyle(document.getElementById('notice')).borderLeftColor") == "rgb(164, 16, 31)"
    assert page.evaluate("getComputedStyle(document.getElementById('notice'), '::before').content") == '"✕"'
    page.screenshot(path=ARTIFACTS / "phone-room-locked-360.png", animations="disabled")
    accessible(page, "phone, room locked")

    # The facilitator reopens the room: the phone asks again by itself and is let in, no reload.
    control(panel, code, "room", on="0")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected", timeout=25_000)
    expect(page.locator("#sliders")).to_be_visible()
    expect(page.locator("#notice")).to_be_hidden()
    expect(page.locator("#slider-sturing")).to_be_enabled()


def test_a_full_session_says_so_to_the_next_phone(workshop):
    from playwright.sync_api import expect

    code, panel, phone = workshop
    control(panel, code, "cap", cap="1")
    first = phone("375")
    connected(first)
    second = phone("360")
    expect(second.locator("#notice")).to_have_text("Deze sessie is vol. Vraag het de begeleider.")
    expect(second.locator("#sliders")).to_be_hidden()
    expect(first.locator("#slider-sturing")).to_be_enabled()

    # The projector says the room is full instead of showing a code that lets nobody in.
    screen = panel.context.new_page()
    screen.goto(panel.url + "screen/")
    expect(screen.get_by_test_id("room-full")).to_have_text("De zaal is vol")
    expect(screen.locator(".join-corner .qr")).to_have_count(0)
    screen.screenshot(path=ARTIFACTS / "screen-room-full-1366x768.png", animations="disabled")

    # A place comes free (the cap goes up): the refused phone is let in by itself.
    control(panel, code, "cap", cap="2")
    expect(second.locator("#connection")).to_have_attribute("data-state", "connected", timeout=25_000)
    expect(second.locator("#slider-sturing")).to_be_enabled()
    expect(screen.get_by_test_id("room-full")).to_be_visible()
    screen.close()


def test_after_the_reveal_the_room_median_is_said_in_words_and_the_poles_share_a_line(workshop):
    from playwright.sync_api import expect

    code, panel, phone = workshop
    page = phone("360")
    connected(page)
    # Both poles of every slider on one line at 360 px, each in its own half.
    tops = page.evaluate(
        "Array.from(document.querySelectorAll('.poles'))"
        ".map(p => Array.from(p.children).map(s => s.getBoundingClientRect().top))"
    )
    assert all(left == right for left, right in tops), tops
    for key in ("sturing", "aanpak"):
        page.locator(f"#slider-{key}").focus()
        page.keyboard.press("Enter")
        expect(page.locator(f"#state-{key}")).to_have_text("Opgeslagen")
    # Two more answers on "sturing": a phone is shown the room's median from three answers on.
    for _ in range(2):
        other = phone("360")
        connected(other)
        other.locator("#slider-sturing").focus()
        other.keyboard.press("Enter")
        expect(other.locator("#state-sturing")).to_have_text("Opgeslagen")
    control(panel, code, "discussion")
    control(panel, code, "reveal", on="1")
    control(panel, code, "reveal_phones", on="1")
    legend = page.locator(".slider[data-key=sturing] .median-legend")
    expect(legend).to_be_visible()
    expect(legend).to_have_text("Mediaan van de zaal: 50")
    expect(page.locator(".slider[data-key=sturing] .marker.median")).to_be_visible()
    legend.scroll_into_view_if_needed()
    page.screenshot(path=ARTIFACTS / "phone-median-legend-360.png", animations="disabled")


def test_a_silent_connection_shows_within_five_seconds_and_the_queue_goes_on_return(workshop):
    from playwright.sync_api import expect

    _, panel, phone = workshop
    page = phone("360")
    # A half-open line: while window.__silent is set, frames go nowhere in either direction.
    page.add_init_script(
        """(() => {
          const Native = window.WebSocket;
          window.__silent = false;
          function Silenced(url, protocols) {
            const ws = new Native(url, protocols);
            const send = ws.send.bind(ws);
            ws.send = (data) => { if (!window.__silent) send(data); };
            ws.addEventListener('message', (e) => { if (window.__silent) e.stopImmediatePropagation(); });
            return ws;
          }
          Silenced.prototype = Native.prototype;
          for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Silenced[k] = Native[k];
          window.WebSocket = Silenced;
        })()"""
    )
    page.reload()
    connected(page)
    page.evaluate("window.__silent = true")
    started = time.monotonic()
    expect(page.locator("#connection")).to_have_attribute("data-state", "offline", timeout=8_000)
    assert time.monotonic() - started <= 5.5
    # One short line, not three lines in a pill.
    line = page.locator("#connection").evaluate(
        "el => ({h: el.getBoundingClientRect().height, lh: parseFloat(getComputedStyle(el).lineHeight)})"
    )
    assert line["h"] < 2 * line["lh"], line
    expect(page.locator("#connection")).to_have_text("Offline: antwoorden bewaard")
    # A move while away is queued and kept...
    page.locator("#slider-sturing").focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")  # 50 -> 60
    expect(page.locator("#state-sturing")).to_have_text("Opslaan…")
    # ...and sent on return. The line may come back just after a new socket's hello went nowhere:
    # the page then notices only by its silence limit (4.5 s, checked every 0.5 s), then reconnects
    # after its first backoff (at most 0.5 s), so allow that and the welcome.
    page.evaluate("window.__silent = false")
    connected(page, timeout=8_000)
    expect(page.locator("#state-sturing")).to_have_text("Opgeslagen")
    expect(panel.get_by_test_id("median-sturing")).to_have_text("60")
