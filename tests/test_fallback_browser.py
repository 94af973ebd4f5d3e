"""In Chromium: a phone whose network blocks websockets runs a whole round over plain HTTP."""

import time

import pytest

from tests.servers import SESSION_SETUP, manage
from tests.test_room_phone import PHONES, connected, server  # noqa: F401 (server is a fixture)
from tests.test_room_screen import control

pytestmark = pytest.mark.browser

VALUES = {"sturing": 25, "aanpak": 25, "verankering": 20, "regie": 35}


DROP_EVERY_10_S = """(() => {
  const Native = window.WebSocket;
  function Dropping(url, protocols) {
    const ws = new Native(url, protocols);
    ws.addEventListener('open', () => setTimeout(() => ws.close(), 10000));
    return ws;
  }
  Dropping.prototype = Native.prototype;
  for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Dropping[k] = Native[k];
  window.WebSocket = Dropping;
})()"""


def run_a_round(browser, server, figure, name: str, *, route_socket=None, init_script=None, drops=0) -> None:  # noqa: F811
    from playwright.sync_api import expect

    url, env = server
    code, cookie = manage("shell", "-c", SESSION_SETUP, env=env).split()[-2:]
    facilitator = browser.new_context(viewport={"width": 1366, "height": 768}, locale="nl-NL")
    facilitator.add_cookies([{"name": "sessionid", "value": cookie, "url": url}])
    panel = facilitator.new_page()
    panel.goto(f"{url}/f/s/{code}/")
    context = browser.new_context(viewport=PHONES["360"], is_mobile=True, has_touch=True, locale="nl-NL")
    page = context.new_page()
    sockets: list[str] = []
    posts: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.on("request", lambda request: posts.append(request.url) if "/send/" in request.url else None)
    if route_socket:
        page.route_web_socket("**/ws/p/**", lambda ws: (sockets.append(ws.url), route_socket(ws)))
    if init_script:
        page.add_init_script(init_script)
    started = time.monotonic()
    page.goto(f"{url}/j/{code}/")
    connected(page)
    joined = time.monotonic() - started
    # Drags, sets and "geen mening", as on any phone.
    page.locator("#slider-horizon").scroll_into_view_if_needed()
    box = page.locator("#slider-horizon").bounding_box()
    page.mouse.click(box["x"] + 8 + (box["width"] - 16) * 0.8, box["y"] + box["height"] / 2)
    expect(page.locator("#state-horizon")).to_have_text("Opgeslagen")
    for number, (key, value) in enumerate(VALUES.items()):
        if number < drops:
            # Wait for the next drop and reconnect, so that every step happens on a new socket.
            with page.expect_event("websocket", timeout=15_000):
                pass
            connected(page)
        page.locator(f"#slider-{key}").focus()
        page.keyboard.press("Home")
        for _ in range(value):
            page.keyboard.press("ArrowRight")
        expect(page.locator(f"#state-{key}")).to_have_text("Opgeslagen")
    page.locator("#slider-horizon").locator("xpath=ancestor::*[contains(@class,'slider')][1]").locator(
        "button.abstain"
    ).click()
    expect(page.locator("#state-horizon")).to_have_text("Geen mening / weet ik niet")
    # The projector cannot tell this phone from a socket phone: exact numbers.
    for key, value in VALUES.items():
        expect(panel.get_by_test_id(f"median-{key}")).to_have_text(str(value))
    control(panel, code, "discussion")
    control(panel, code, "results", mode="shown")
    control(panel, code, "reveal", on="1")
    control(panel, code, "reveal_phones", on="1")
    expect(page.locator("#reveal-name")).to_have_text("Wijkbeheer & dienstverlening")
    stored = manage(
        "shell",
        "-c",
        f"from workshop.models import Position; print(sorted(Position.objects.filter("
        f"participant__session__code='{code}').values_list('slider__key', 'value')))",
        env=env,
    ).splitlines()[-1]
    assert stored == str(sorted([*VALUES.items(), ("horizon", None)])), stored
    assert sockets, "the page never tried a websocket"
    if route_socket:
        assert posts, "nothing went over HTTP"
    else:
        assert len(sockets) > drops
    figure(
        f"fallback in Chromium ({name}): welcomed {joined:.1f} s after load; {len(sockets)} socket tries, "
        f"{len(posts)} HTTP posts; dashboard exact, 0 lost"
    )
    context.close()
    facilitator.close()


def test_a_phone_whose_websockets_are_all_blocked_runs_a_round_over_http(browser, server, figure):  # noqa: F811
    run_a_round(browser, server, figure, "every socket refused", route_socket=lambda ws: ws.close())


def test_a_phone_whose_socket_drops_every_ten_seconds_loses_nothing(browser, server, figure):  # noqa: F811
    run_a_round(browser, server, figure, "socket dropped every 10 s", init_script=DROP_EVERY_10_S, drops=2)


def test_a_refused_stream_is_explained_and_retried_and_a_replaced_one_is_explained_and_stops(browser, server):  # noqa: F811
    """The server's (or nginx's) 429 for too many streams from one network, then a second tab of the same
    phone on HTTP: the first tab says where to carry on, and stops."""
    import json

    from playwright.sync_api import expect

    from tests.test_browser import ARTIFACTS

    url, env = server
    code, _cookie = manage("shell", "-c", SESSION_SETUP, env=env).split()[-2:]
    context = browser.new_context(viewport=PHONES["360"], is_mobile=True, has_touch=True, locale="nl-NL")
    context.route_web_socket("**/ws/p/**", lambda ws: ws.close())
    refusals: list[str] = []
    # Refused until the notice has been seen: a retry that is let in clears the notice, and on a
    # fast machine that can happen before the first look.
    let_in: list[bool] = []

    def too_many_until_let_in(route) -> None:
        if let_in:
            route.continue_()
            return
        refusals.append(route.request.url)
        body = {"type": "error", "code": "too_many_streams", "message": "Too many phones."}
        route.fulfill(status=429, content_type="application/json", body=json.dumps(body))

    first = context.new_page()
    first.route("**/p/*/stream/", too_many_until_let_in)
    first.goto(f"{url}/j/{code}/")
    expect(first.locator("#notice")).to_contain_text("Te veel telefoons op dit netwerk", timeout=10_000)
    first.screenshot(path=ARTIFACTS / "phone-fallback-too-many-360.png", animations="disabled")
    let_in.append(True)
    connected(first, timeout=15_000)  # tried again by itself, and let in
    expect(first.locator("#notice")).to_be_hidden()
    second = context.new_page()
    second.goto(f"{url}/j/{code}/")
    connected(second, timeout=15_000)
    expect(first.locator("#notice")).to_contain_text("ander tabblad of venster", timeout=10_000)
    expect(first.locator("#slider-regie")).to_be_disabled()
    first.screenshot(path=ARTIFACTS / "phone-fallback-replaced-360.png", animations="disabled")
    # The tab that took over carries on.
    expect(second.locator("#slider-regie")).to_be_enabled()
    assert refusals, "the stream was never refused"
    context.close()
