"""A process's phones share one relay channel and one copy of their session, kept current by its events."""

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from tests.sockets import open_socket, phone
from workshop import broadcast, session_control
from workshop.runtime import runtime
from workshop.session_info import aload_session_info

pytestmark = pytest.mark.django_db(transaction=True)


async def next_state(communicator):
    message = await communicator.receive_json_from(timeout=5)
    assert message["type"] == "state", message
    return message


async def test_one_channel_of_the_process_is_in_the_phones_group_however_many_phones(lobby_session):
    phones = [(await phone(lobby_session.code))[0] for _ in range(3)]
    assert len(get_channel_layer().groups[broadcast.phones_group(lobby_session.code)]) == 1
    await sync_to_async(session_control.step_slider)(session=lobby_session, direction=1)
    for communicator in phones:
        assert (await next_state(communicator))["session"]["status"] == "positioning"
        await communicator.disconnect()


async def test_a_phone_that_joins_after_a_change_is_welcomed_with_the_new_state(lobby_session):
    first, welcome = await phone(lobby_session.code)
    assert welcome["session"]["status"] == "lobby"
    await sync_to_async(session_control.step_slider)(session=lobby_session, direction=1)
    await next_state(first)  # the relay has heard the change
    second, welcome = await phone(lobby_session.code)
    assert welcome["session"]["status"] == "positioning"
    assert [s["key"] for s in welcome["sliders"] if s["open"]] == ["sturing"]
    await second.send_json_to({"type": "set", "slider": "sturing", "value": 40, "seq": 1})
    assert await second.receive_json_from() == {"type": "ack", "seq": 1, "round": 1}
    await first.disconnect()
    await second.disconnect()


async def test_a_phone_that_joins_once_the_others_left_reads_the_session_again(lobby_session):
    first, _ = await phone(lobby_session.code)
    await first.disconnect()
    # Nobody of this process listens now: a change it does not hear must still reach the next phone.
    await sync_to_async(session_control.step_slider)(session=lobby_session, direction=1)
    second, welcome = await phone(lobby_session.code)
    assert welcome["session"]["status"] == "positioning"
    await second.disconnect()


async def test_a_locked_room_refuses_a_new_phone_even_before_the_relay_hears_of_it(lobby_session):
    first, _ = await phone(lobby_session.code)
    await sync_to_async(session_control.set_room_locked)(session=lobby_session, locked=True)
    # Straight away: the database, not the shared copy, decides who may join.
    communicator, connected = await open_socket(f"/ws/p/{lobby_session.code}/")
    assert connected
    await communicator.send_json_to({"type": "hello", "token": None})
    reply = await communicator.receive_json_from(timeout=5)
    assert reply["code"] == "room_locked"
    await first.disconnect()


async def test_a_phone_that_chose_english_gets_its_sliders_in_english(workshop_session):
    # The phone socket reads the language cookie itself (it has no cookie middleware, see routing.py).
    dutch, _ = await open_socket(f"/ws/p/{workshop_session.code}/")
    english, _ = await open_socket(f"/ws/p/{workshop_session.code}/", cookie=b"django_language=en")
    labels = {}
    for name, communicator in (("nl", dutch), ("en", english)):
        await communicator.send_json_to({"type": "hello", "token": None})
        welcome = await communicator.receive_json_from(timeout=5)
        labels[name] = [s["label"] for s in welcome["sliders"]]
        await communicator.disconnect()
    assert labels["nl"] != labels["en"]
    assert labels["en"][0] == await sync_to_async(english_label)(workshop_session)


def english_label(session) -> str:
    from django.utils import translation

    with translation.override("en"):
        return session.exercise.sliders.order_by("order", "pk").first().label


# The shared copy (relay.SharedSessions) ------------------------------------------------------


async def reads_of_two_joins(code: str, *, overtaken: bool) -> int:
    """How often the database is read when two phones join one after the other; `overtaken`: every read
    is overtaken by an event of the session (a control that committed while the read was under way)."""
    sessions = runtime().relay.sessions
    reads = 0

    async def load(*, code: str):
        nonlocal reads
        reads += 1
        info = await aload_session_info(code=code)
        if overtaken:
            sessions.heard(code, {"type": "live.changed", "code": code})
        return info

    for _phone in range(2):
        assert (await sessions.get(code, load=load)).code == code
    return reads


async def test_the_phones_of_a_process_share_one_read_of_their_session(lobby_session):
    # The first join reads twice: once more after the relay started listening.
    assert await reads_of_two_joins(lobby_session.code, overtaken=False) == 2


async def test_a_read_that_an_event_overtook_is_not_shared(lobby_session):
    assert await reads_of_two_joins(lobby_session.code, overtaken=True) == 3
