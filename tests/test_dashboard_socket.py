import asyncio
import json
import re
import time

import pytest
from asgiref.sync import sync_to_async

from tests.conftest import session_cookie
from tests.servers import DAPHNE_LIMITS
from tests.sockets import aggregate_until, aggregates_until, open_dashboard, open_socket, phone, slider
from workshop import charts, limits, session_control
from workshop.models import Participant, Position

pytestmark = pytest.mark.django_db(transaction=True)


async def test_the_facilitator_gets_an_aggregate_on_connect(fenna, workshop_session, slider_keys):
    dashboard = await open_dashboard(fenna, workshop_session.code)
    message = await dashboard.receive_json_from(timeout=5)
    assert message["type"] == "aggregate"
    assert (message["participants"], message["connected"], message["best"]) == (0, 0, None)
    assert [s["key"] for s in message["sliders"]] == slider_keys
    first = message["sliders"][0]
    assert first["n"] == 0 and first["median"] is None and first["consensus"] is None
    assert first["histogram"] == [0] * 10
    assert {p["key"] for p in message["profiles"]} == {
        "beheer",
        "bestuurlijk",
        "bewoners",
        "gebiedsaanpak",
        "opgavegericht",
    }
    assert all(p["distance"] is None and p["match"] is None for p in message["profiles"])
    assert 'id="live"' in message["html"]
    await dashboard.disconnect()


async def test_moves_and_sets_reach_the_dashboard_exactly(fenna, workshop_session):
    dashboard = await open_dashboard(fenna, workshop_session.code)
    await dashboard.receive_json_from()
    phones = []
    for value in (10, 20, 30, 40):
        communicator, _ = await phone(workshop_session.code)
        phones.append(communicator)
        await communicator.send_json_to({"type": "move", "slider": "sturing", "value": value})
    await phones[0].send_json_to({"type": "set", "slider": "regie", "value": 90, "seq": 1})
    await phones[0].receive_json_from()

    message = await aggregate_until(
        dashboard, lambda m: slider(m, "sturing")["n"] == 4 and slider(m, "regie")["n"] == 1
    )
    sturing = slider(message, "sturing")
    assert (sturing["median"], sturing["q1"], sturing["q3"], sturing["mean"]) == (25, 17.5, 32.5, 25)
    assert sturing["histogram"] == [0, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert message["participants"] == 4 and message["connected"] == 4
    assert message["best"] is not None
    assert 'data-testid="n-sturing">4<' in message["html"]
    # SVG coordinates are numbers in every language (no Dutch decimal comma).
    coordinates = re.findall(r' (?:cx|cy|r|x|x1|width)="([^"]*)"', message["html"])
    assert len(coordinates) > 10 and all(float(c) >= -10 for c in coordinates)
    for communicator in phones:
        await communicator.disconnect()
    await dashboard.disconnect()


async def test_latest_value_per_participant_counts_once(fenna, workshop_session):
    dashboard = await open_dashboard(fenna, workshop_session.code)
    await dashboard.receive_json_from()
    communicator, welcome = await phone(workshop_session.code)
    for value in (5, 50, 95):
        await communicator.send_json_to({"type": "move", "slider": "aanpak", "value": value})
    # A duplicate tab of the same participant.
    tab, _ = await phone(workshop_session.code, token=welcome["token"])
    await tab.send_json_to({"type": "set", "slider": "aanpak", "value": 60, "seq": 1})
    await tab.receive_json_from()
    message = await aggregate_until(dashboard, lambda m: slider(m, "aanpak")["median"] == 60)
    assert slider(message, "aanpak")["n"] == 1
    assert message["participants"] == 1 and message["connected"] == 1
    await communicator.disconnect()
    await tab.disconnect()
    await dashboard.disconnect()


async def test_it_coalesces_many_moves_into_few_aggregates(fenna, workshop_session, settings):
    dashboard = await open_dashboard(fenna, workshop_session.code)
    await dashboard.receive_json_from()
    communicator, _ = await phone(workshop_session.code)
    await aggregate_until(dashboard, lambda m: m["connected"] == 1)
    moves = 39  # with the hello, one phone's whole burst allowance

    async def drag() -> None:
        for value in range(moves):
            await communicator.send_json_to({"type": "move", "slider": "horizon", "value": value})
            # A finger's pace, several moves per tick: sent at once, the server would read
            # them all before its first aggregate, which would prove nothing.
            await asyncio.sleep(settings.DASHBOARD_TICK / 4)

    started = time.monotonic()
    _, received = await asyncio.gather(
        drag(), aggregates_until(dashboard, lambda m: slider(m, "horizon")["median"] == moves - 1, limit=2 * moves)
    )
    last_at = time.monotonic()
    # A move that lands while an aggregate is being made may bring one more with the same
    # numbers; it counts like any other, and then the dashboard goes quiet.
    while not await dashboard.receive_nothing(timeout=settings.DASHBOARD_TICK * 3):
        received.append(await dashboard.receive_json_from())
        last_at = time.monotonic()
        await dashboard.send_json_to({"type": "seen"})
        assert len(received) <= 2 * moves
    ticks = (last_at - started) / settings.DASHBOARD_TICK
    # At most one aggregate per tick (the first may go at once), so far fewer than moves.
    assert len(received) <= ticks + 1, (len(received), ticks)
    assert len(received) < moves / 2
    assert slider(received[-1], "horizon")["median"] == moves - 1
    await communicator.disconnect()
    await dashboard.disconnect()


async def test_a_dashboard_that_stops_confirming_gets_no_backlog_and_then_the_newest(fenna, workshop_session, settings):
    dashboard = await open_dashboard(fenna, workshop_session.code)
    await dashboard.receive_json_from()
    communicator, _ = await phone(workshop_session.code)
    second = await dashboard.receive_json_from()
    assert second["connected"] == 1
    # Two aggregates are unconfirmed now: the server holds whatever happens next.
    for value in (10, 30, 50, 70, 90):
        await communicator.send_json_to({"type": "move", "slider": "horizon", "value": value})
    assert await dashboard.receive_nothing(timeout=settings.DASHBOARD_TICK * 3)
    await dashboard.send_json_to({"type": "seen"})
    newest = await dashboard.receive_json_from(timeout=5)
    assert slider(newest, "horizon")["median"] == 90
    await communicator.disconnect()
    await dashboard.disconnect()


async def test_two_tabs_of_one_phone_count_once_until_both_close(fenna, workshop_session):
    dashboard = await open_dashboard(fenna, workshop_session.code)
    await dashboard.receive_json_from()
    first, welcome = await phone(workshop_session.code)
    second, _ = await phone(workshop_session.code, token=welcome["token"])
    await aggregate_until(dashboard, lambda m: m["connected"] == 1 and m["participants"] == 1)
    await first.disconnect()
    # One tab closed: the participant is still there, and its other tab still moves.
    await second.send_json_to({"type": "move", "slider": "horizon", "value": 12})
    message = await aggregate_until(dashboard, lambda m: slider(m, "horizon")["n"] == 1)
    assert message["connected"] == 1
    await second.disconnect()
    await aggregate_until(dashboard, lambda m: m["connected"] == 0)
    await dashboard.disconnect()


async def test_disconnected_phones_are_no_longer_counted_as_connected(fenna, workshop_session):
    dashboard = await open_dashboard(fenna, workshop_session.code)
    await dashboard.receive_json_from()
    communicator, _ = await phone(workshop_session.code)
    await aggregate_until(dashboard, lambda m: m["connected"] == 1)
    await communicator.disconnect()
    message = await aggregate_until(dashboard, lambda m: m["connected"] == 0)
    assert message["participants"] == 1
    await dashboard.disconnect()


async def test_reveal_reaches_the_dashboard(fenna, workshop_session):
    dashboard = await open_dashboard(fenna, workshop_session.code)
    await dashboard.receive_json_from()
    communicator, _ = await phone(workshop_session.code)
    await communicator.send_json_to({"type": "set", "slider": "regie", "value": 90, "seq": 1})
    await communicator.receive_json_from()
    await aggregate_until(dashboard, lambda m: slider(m, "regie")["n"] == 1)
    await sync_to_async(session_control.start_discussion)(session=workshop_session)
    await sync_to_async(session_control.reveal_profile)(session=workshop_session, revealed=True)
    message = await aggregate_until(dashboard, lambda m: 'data-testid="best-profile"' in m["html"])
    assert message["best"] == "bewoners"
    await communicator.disconnect()
    await dashboard.disconnect()


async def test_an_anonymous_visitor_is_closed_with_4403(workshop_session):
    communicator, connected = await open_socket(f"/ws/d/{workshop_session.code}/")
    assert connected
    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4403}


async def test_another_facilitator_is_closed_with_4403(otto, workshop_session):
    dashboard = await open_dashboard(otto, workshop_session.code)
    assert await dashboard.receive_output() == {"type": "websocket.close", "code": 4403}


async def test_a_superuser_may_watch_any_session(admin_user_persona, workshop_session):
    dashboard = await open_dashboard(admin_user_persona, workshop_session.code)
    assert (await dashboard.receive_json_from())["type"] == "aggregate"
    await dashboard.disconnect()


async def test_an_unknown_session_looks_the_same_as_someone_elses(fenna, otto, workshop_session):
    # 4404 for an unknown code would tell any logged-in user which codes exist.
    unknown = await open_dashboard(otto, "ZZZZZZ")
    foreign = await open_dashboard(otto, workshop_session.code)
    assert await unknown.receive_output() == {"type": "websocket.close", "code": 4403}
    assert await foreign.receive_output() == {"type": "websocket.close", "code": 4403}


async def test_messages_to_the_dashboard_get_an_error_and_keep_it_open(fenna, workshop_session):
    dashboard = await open_dashboard(fenna, workshop_session.code)
    await dashboard.receive_json_from()
    for bad in ('{"type": "reveal"}', "not json", "[]", '{"type": "seen"' + " " * 5000 + "}"):
        await dashboard.send_to(text_data=bad)
        assert (await dashboard.receive_json_from())["type"] == "error"
    await dashboard.send_to(bytes_data=b"\x00")
    assert (await dashboard.receive_json_from())["code"] == "binary_not_supported"
    communicator, _ = await phone(workshop_session.code)
    await aggregate_until(dashboard, lambda m: m["connected"] == 1)
    await communicator.disconnect()
    await dashboard.disconnect()


async def test_the_largest_dashboard_message_fits_daphnes_message_size_limit(fenna, workshop_session, figure):
    # Daphne's size limit covers what it sends as well as what it takes: the biggest
    # aggregate (30 groups with the longest names, 60 dots per slider in both rounds,
    # everything shown) must fit with room to spare.
    limit = int(DAPHNE_LIMITS[DAPHNE_LIMITS.index("--websocket-max-message-size") + 1])

    @sync_to_async
    def fill() -> None:
        session = workshop_session
        groups = [
            session_control.add_group(session=session, name=f"{i:02d} " + "W" * 57) for i in range(limits.MAX_GROUPS)
        ]
        sliders = list(session.exercise.sliders.all())
        session_control.start_round_two(session=session)
        for i in range(charts.DOTS_UP_TO):
            participant = Participant.objects.create(
                session=session, group=groups[i % len(groups)], token_hash=f"{i:064x}"
            )
            Position.objects.bulk_create(
                Position(participant=participant, slider=s, round=r, value=(i * 37 + r * 11) % 101)
                for s in sliders
                for r in (1, 2)
            )
        session_control.set_results(session=session, mode="shown")
        session_control.start_discussion(session=session)
        session_control.reveal_profile(session=session, revealed=True)

    await fill()
    sizes = []
    for view in ("", "?view=screen"):
        communicator = await open_dashboard(fenna, workshop_session.code, view)
        raw = await communicator.receive_from(timeout=10)
        assert json.loads(raw)["participants"] == charts.DOTS_UP_TO
        sizes.append(len(raw.encode()))
        await communicator.disconnect()
    figure(f"largest dashboard message: {max(sizes) / 1024:.1f} KiB (daphne's limit {limit / 1024:.0f} KiB)")
    assert max(sizes) <= limit / 2


async def test_the_screen_socket_carries_only_what_the_room_may_see(fenna, workshop_session):
    communicator, _ = await phone(workshop_session.code)
    for seq, key in enumerate(["regie", "aanpak"], start=1):
        await communicator.send_json_to({"type": "set", "slider": key, "value": 37, "seq": seq})
        assert (await communicator.receive_json_from())["type"] == "ack"
    cookie = await sync_to_async(session_cookie)(fenna)
    screen, _ = await open_socket(f"/ws/d/{workshop_session.code}/?view=screen", cookie=cookie)
    # Counts only (results hidden, nothing revealed): n, but no statistic, in the fields or the html.
    hidden = await aggregate_until(screen, lambda m: slider(m, "regie")["n"] == 1)
    assert set(slider(hidden, "regie")) == {"key", "n", "abstained", "open"}
    assert hidden["best"] is None and hidden["profiles"] == [] and hidden["best_before"] is None
    assert all(set(s) == {"n"} for s in [*hidden["groups"]] for s in s["sliders"].values())
    html = hidden["html"]
    assert 'class="median"' not in html and 'class="dot"' not in html and 'class="iqr"' not in html
    assert 'data-testid="screen-median-regie">37' not in html
    # One slider shown: only that slider's statistics appear.
    await sync_to_async(session_control.set_slider_results)(session=workshop_session, slider="aanpak", shown=True)
    shown = await aggregate_until(screen, lambda m: "median" in slider(m, "aanpak"))
    assert slider(shown, "aanpak")["median"] == 37 and "median" not in slider(shown, "regie")
    assert shown["best"] is None
    # The control panel (not projected) sees everything all along.
    control, _ = await open_socket(f"/ws/d/{workshop_session.code}/", cookie=cookie)
    full = await aggregate_until(control, lambda m: True)
    assert slider(full, "regie")["median"] == 37 and full["best"] is not None
    for socket in (communicator, screen, control):
        await socket.disconnect()
