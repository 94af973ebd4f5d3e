"""What phones receive and may do in each phase, round and group."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from tests.conftest import session_cookie
from tests.sockets import aggregate_until, open_dashboard, open_socket, phone, slider
from workshop import closing, session_control
from workshop.models import Position, Session
from workshop.runtime import runtime

pytestmark = pytest.mark.django_db(transaction=True)


async def control(name, session, **kwargs):
    module = closing if name == "close_session" else session_control
    await sync_to_async(getattr(module, name))(session=session, **kwargs)


async def next_state(communicator):
    message = await communicator.receive_json_from(timeout=5)
    assert message["type"] == "state", message
    return message


async def test_in_the_lobby_every_slider_is_closed_and_refuses_moves(lobby_session):
    communicator, welcome = await phone(lobby_session.code)
    assert welcome["session"]["status"] == "lobby"
    assert not any(s["open"] for s in welcome["sliders"])
    await communicator.send_json_to({"type": "set", "slider": "regie", "value": 50, "seq": 1})
    reply = await communicator.receive_json_from()
    assert (reply["code"], reply["seq"]) == ("slider_locked", 1)
    await communicator.send_json_to({"type": "move", "slider": "regie", "value": 50})
    assert (await communicator.receive_json_from())["code"] == "slider_locked"
    assert await Position.objects.acount() == 0
    await communicator.disconnect()


async def test_phones_follow_the_facilitator_step_by_step(lobby_session):
    communicator, _ = await phone(lobby_session.code)
    await control("step_slider", lobby_session, direction=1)
    state = await next_state(communicator)
    assert state["session"]["status"] == "positioning"
    assert [s["key"] for s in state["sliders"] if s["open"]] == ["sturing"]
    await communicator.send_json_to({"type": "set", "slider": "aanpak", "value": 50, "seq": 1})
    assert (await communicator.receive_json_from())["code"] == "slider_locked"
    await communicator.send_json_to({"type": "set", "slider": "sturing", "value": 50, "seq": 2})
    assert await communicator.receive_json_from() == {"type": "ack", "seq": 2, "round": 1}
    await communicator.disconnect()


async def test_a_locked_slider_keeps_its_value(workshop_session):
    communicator, _ = await phone(workshop_session.code)
    await communicator.send_json_to({"type": "set", "slider": "regie", "value": 65, "seq": 1})
    await communicator.receive_json_from()
    await control("set_slider_open", workshop_session, slider="regie", open=False)
    state = await next_state(communicator)
    assert state["positions"]["regie"] == 65
    assert not next(s for s in state["sliders"] if s["key"] == "regie")["open"]
    await communicator.send_json_to({"type": "set", "slider": "regie", "value": 10, "seq": 2})
    assert (await communicator.receive_json_from())["code"] == "slider_locked"
    assert [p.value async for p in Position.objects.all()] == [65]
    await communicator.disconnect()


async def test_a_late_joiner_gets_the_current_phase_round_and_open_sliders(workshop_session):
    await control("start_discussion", workshop_session)
    await control("start_round_two", workshop_session)
    await control("step_slider", workshop_session, direction=1)
    communicator, welcome = await phone(workshop_session.code)
    assert welcome["session"]["round"] == 2 and welcome["session"]["status"] == "positioning"
    assert [s["key"] for s in welcome["sliders"] if s["open"]] == ["sturing"]
    assert welcome["previous"] == dict.fromkeys(welcome["positions"])
    await communicator.disconnect()


async def test_round_two_keeps_round_one_as_the_ghost_and_acks_with_the_round(workshop_session):
    communicator, welcome = await phone(workshop_session.code)
    await communicator.send_json_to({"type": "set", "slider": "horizon", "value": 20, "seq": 1})
    await communicator.receive_json_from()
    await control("start_round_two", workshop_session)
    state = await next_state(communicator)
    assert state["session"]["round"] == 2
    assert state["previous"]["horizon"] == 20 and state["positions"]["horizon"] is None
    await communicator.send_json_to({"type": "set", "slider": "horizon", "value": 80, "seq": 2})
    assert await communicator.receive_json_from() == {"type": "ack", "seq": 2, "round": 2}
    rounds = sorted([(p.round, p.value) async for p in Position.objects.all()])
    assert rounds == [(1, 20), (2, 80)]
    await communicator.disconnect()
    again, second = await phone(workshop_session.code, token=welcome["token"])
    assert second["previous"]["horizon"] == 20 and second["positions"]["horizon"] == 80
    await again.disconnect()


async def test_no_opinion_is_counted_apart_from_the_statistics(fenna, workshop_session):
    dashboard = await open_dashboard(fenna, workshop_session.code)
    await dashboard.receive_json_from()
    first, _ = await phone(workshop_session.code)
    second, _ = await phone(workshop_session.code)
    await first.send_json_to({"type": "abstain", "slider": "regie", "seq": 1})
    assert await first.receive_json_from() == {"type": "ack", "seq": 1, "round": 1}
    await second.send_json_to({"type": "set", "slider": "regie", "value": 30, "seq": 1})
    await second.receive_json_from()
    message = await aggregate_until(
        dashboard, lambda m: (slider(m, "regie")["abstained"], slider(m, "regie")["n"]) == (1, 1)
    )
    assert slider(message, "regie")["n"] == 1 and slider(message, "regie")["median"] == 30
    assert await Position.objects.filter(value__isnull=True).acount() == 1
    for communicator in (first, second, dashboard):
        await communicator.disconnect()


async def test_the_revealed_profile_reaches_phones_with_the_rooms_median_from_three_answers_on(workshop_session):
    communicator, _ = await phone(workshop_session.code)
    for key, value in {"sturing": 85, "aanpak": 55, "verankering": 35, "regie": 90, "horizon": 35}.items():
        await communicator.send_json_to({"type": "set", "slider": key, "value": value, "seq": value})
        await communicator.receive_json_from()
    others = []
    for value in (80, 95):  # two more answers on "regie" only
        other, _ = await phone(workshop_session.code)
        await other.send_json_to({"type": "set", "slider": "regie", "value": value, "seq": 1})
        await other.receive_json_from()
        others.append(other)
    await runtime().outbox.flush()
    await control("start_discussion", workshop_session)
    await next_state(communicator)
    await control("reveal_profile", workshop_session, revealed=True)
    assert (await next_state(communicator))["reveal"] is None  # the screen first
    await control("reveal_to_phones", workshop_session, revealed=True)
    state = await next_state(communicator)
    current = state["reveal"]["rounds"]["1"]
    assert current["profile"]["key"] == "bewoners"
    assert current["profile"]["name"] == "Bewonersgestuurd wijkgericht werken"
    assert current["profile"]["assignment"].startswith("Maak bewonersinitiatieven mogelijk")
    assert current["medians"]["regie"] == 90
    # One answer: no median, or it would be that participant's own position (docs/protocol.md, `reveal`).
    assert current["medians"]["sturing"] is None
    for other in (communicator, *others):
        await other.disconnect()


async def test_when_the_timer_locks_sets_are_refused(workshop_session):
    communicator, _ = await phone(workshop_session.code)
    await control("start_timer", workshop_session, seconds=60, lock_when_done=True)
    state = await next_state(communicator)
    assert 0 < state["timer"]["remaining_ms"] <= 60000 and state["timer"]["locks"]
    # The timer ran out: as if a minute had passed.
    await Session.objects.filter(pk=workshop_session.pk).aupdate(timer_ends_at=timezone.now() - timedelta(seconds=1))
    workshop_session.timer_ends_at = timezone.now() - timedelta(seconds=1)
    await sync_to_async(session_control.announce)(session=workshop_session)
    await next_state(communicator)
    await communicator.send_json_to({"type": "set", "slider": "regie", "value": 50, "seq": 1})
    assert (await communicator.receive_json_from())["code"] == "slider_locked"
    await communicator.disconnect()


async def test_groups_phones_choose_until_the_groups_are_locked_and_are_counted_per_group(fenna, workshop_session):
    group = await sync_to_async(session_control.add_group)(session=workshop_session, name="Trio A")
    communicator, welcome = await phone(workshop_session.code)
    assert welcome["groups"] == [{"id": group.pk, "name": "Trio A"}] and welcome["group"] is None
    await communicator.send_json_to({"type": "set", "slider": "regie", "value": 50, "seq": 1})
    assert (await communicator.receive_json_from())["code"] == "group_required"
    await communicator.send_json_to({"type": "group", "group": 999999})
    assert (await communicator.receive_json_from())["code"] == "unknown_group"
    await communicator.send_json_to({"type": "group", "group": group.pk})
    assert (await next_state(communicator))["group"] == group.pk
    await control("lock_groups", workshop_session, locked=True)
    assert (await next_state(communicator))["may_choose_group"] is False
    await communicator.send_json_to({"type": "group", "group": group.pk})
    assert (await communicator.receive_json_from())["code"] == "groups_locked"
    await communicator.send_json_to({"type": "set", "slider": "regie", "value": 50, "seq": 2})
    assert (await communicator.receive_json_from())["type"] == "ack"
    dashboard = await open_dashboard(fenna, workshop_session.code)
    message = await aggregate_until(dashboard, lambda m: m["groups"][0]["sliders"]["regie"]["n"] == 1)
    # One person is a group too small to show: its count, never its median.
    assert message["groups"][0]["participants"] == 1 and message["groups"][0]["sliders"]["regie"] == {"n": 1}
    await communicator.disconnect()
    await dashboard.disconnect()


async def test_a_group_chosen_mid_session_counts_what_the_phone_already_placed(fenna, workshop_session):
    communicator, _ = await phone(workshop_session.code)
    await communicator.send_json_to({"type": "set", "slider": "regie", "value": 30, "seq": 1})
    assert (await communicator.receive_json_from())["type"] == "ack"
    group = await sync_to_async(session_control.add_group)(session=workshop_session, name="Trio C")
    await next_state(communicator)
    await communicator.send_json_to({"type": "group", "group": group.pk})
    assert (await next_state(communicator))["group"] == group.pk
    cookie = await sync_to_async(session_cookie)(fenna)
    dashboard, _ = await open_socket(f"/ws/d/{workshop_session.code}/", cookie=cookie)
    message = await aggregate_until(dashboard, lambda m: m["groups"] and m["groups"][0]["participants"] == 1)
    assert message["groups"][0]["sliders"]["regie"] == {"n": 1}  # too small to show more
    await communicator.disconnect()
    await dashboard.disconnect()


async def test_a_per_group_qr_code_puts_the_phone_in_its_group(workshop_session):
    group = await sync_to_async(session_control.add_group)(session=workshop_session, name="Team B")
    communicator, _ = await open_socket(f"/ws/p/{workshop_session.code}/")
    await communicator.send_json_to({"type": "hello", "token": None, "group": group.pk})
    welcome = await communicator.receive_json_from()
    assert welcome["group"] == group.pk
    await communicator.disconnect()


async def test_a_locked_room_refuses_new_phones_but_not_returning_ones(workshop_session):
    known, welcome = await phone(workshop_session.code)
    await known.disconnect()
    await control("set_room_locked", workshop_session, locked=True)
    stranger, _ = await open_socket(f"/ws/p/{workshop_session.code}/")
    await stranger.send_json_to({"type": "hello", "token": None})
    assert (await stranger.receive_json_from())["code"] == "room_locked"
    assert await stranger.receive_output() == {"type": "websocket.close", "code": 4409}
    back, again = await phone(workshop_session.code, token=welcome["token"])
    assert again["token"] == welcome["token"]
    await back.disconnect()


async def test_a_full_room_refuses_the_next_phone(workshop_session):
    await control("set_participant_cap", workshop_session, cap=1)
    first, _ = await phone(workshop_session.code)
    second, _ = await open_socket(f"/ws/p/{workshop_session.code}/")
    await second.send_json_to({"type": "hello", "token": None})
    assert (await second.receive_json_from())["code"] == "room_full"
    await first.disconnect()


async def test_a_reset_clears_the_phones_positions(workshop_session):
    communicator, _ = await phone(workshop_session.code)
    await communicator.send_json_to({"type": "set", "slider": "regie", "value": 70, "seq": 1})
    await communicator.receive_json_from()
    await control("reset_slider", workshop_session, slider="regie")
    state = await next_state(communicator)
    assert state["positions"]["regie"] is None
    assert await Position.objects.acount() == 0
    await communicator.disconnect()


async def test_closing_sends_the_final_result_then_closes(workshop_session):
    communicator, _ = await phone(workshop_session.code)
    others = [(await phone(workshop_session.code))[0] for _ in range(2)]  # three answers: a median phones may see
    for each, value in zip((communicator, *others), (25, 20, 30), strict=True):
        await each.send_json_to({"type": "set", "slider": "sturing", "value": value, "seq": 1})
        await each.receive_json_from()
    await runtime().outbox.flush()
    await control("close_session", workshop_session)
    state = await next_state(communicator)
    assert state["session"]["status"] == "closed"
    assert state["reveal"]["rounds"]["1"]["medians"]["sturing"] == 25
    assert state["reveal"]["rounds"]["1"]["profile"] is not None
    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4404}
