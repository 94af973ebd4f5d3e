import json
import logging

import pytest
from asgiref.sync import sync_to_async

from tests.sockets import open_socket, phone, send_raw
from workshop import closing, session_control
from workshop.models import Participant, Position

pytestmark = pytest.mark.django_db(transaction=True)


async def test_hello_without_a_token_gets_a_new_participant(workshop_session, slider_keys):
    communicator, welcome = await phone(workshop_session.code.lower())
    assert isinstance(welcome["token"], str) and len(welcome["token"]) >= 24
    assert welcome["session"] == {
        "code": workshop_session.code,
        "title": "Wijkteam Noord",
        "status": "positioning",
        "stage": "open",
        "round": 1,
    }
    assert [s["key"] for s in welcome["sliders"]] == slider_keys
    assert welcome["sliders"][0] == {
        "key": "sturing",
        "label": "Sturing",
        "left": "Centraal",
        "right": "Decentraal",
        "open": True,
        "reason": None,
    }
    assert welcome["positions"] == dict.fromkeys(slider_keys)
    assert await Participant.objects.acount() == 1
    await communicator.disconnect()


async def test_the_token_is_stored_only_as_a_hash(workshop_session):
    communicator, welcome = await phone(workshop_session.code)
    participant = await Participant.objects.aget()
    assert participant.token_hash != welcome["token"]
    assert participant.token_hash == Participant.hash_token(welcome["token"])
    await communicator.disconnect()


async def test_set_is_stored_then_acknowledged(workshop_session):
    communicator, _ = await phone(workshop_session.code)
    await communicator.send_json_to({"type": "set", "slider": "regie", "value": 70, "seq": 1})
    assert await communicator.receive_json_from() == {"type": "ack", "seq": 1, "round": 1}
    position = await Position.objects.select_related("slider").aget()
    assert (position.slider.key, position.value) == ("regie", 70)
    await communicator.send_json_to({"type": "set", "slider": "regie", "value": 20, "seq": 2})
    assert await communicator.receive_json_from() == {"type": "ack", "seq": 2, "round": 1}
    assert [p.value async for p in Position.objects.all()] == [20]  # latest wins
    await communicator.disconnect()


async def test_move_gets_no_reply_and_writes_no_row(workshop_session):
    communicator, _ = await phone(workshop_session.code)
    await communicator.send_json_to({"type": "move", "slider": "aanpak", "value": 33})
    await communicator.send_json_to({"type": "ping"})
    # The pong is the next message: the move produced none.
    assert await communicator.receive_json_from() == {"type": "pong"}
    assert await Position.objects.acount() == 0
    await communicator.disconnect()


async def test_a_returning_phone_gets_its_positions_back(workshop_session):
    first, welcome = await phone(workshop_session.code)
    await first.send_json_to({"type": "set", "slider": "horizon", "value": 81, "seq": 1})
    await first.receive_json_from()
    await first.send_json_to({"type": "move", "slider": "sturing", "value": 12})
    await first.disconnect()
    again, second = await phone(workshop_session.code, token=welcome["token"])
    assert second["token"] == welcome["token"]
    assert second["positions"]["horizon"] == 81
    assert second["positions"]["sturing"] == 12  # live moves survive a dropped connection too
    assert await Participant.objects.acount() == 1
    await again.disconnect()


async def test_an_unknown_token_gets_a_new_one(workshop_session):
    communicator, welcome = await phone(workshop_session.code, token="not-a-token-we-gave")
    assert welcome["token"] != "not-a-token-we-gave"
    await communicator.disconnect()


async def test_a_token_from_another_session_is_not_accepted(workshop_session, fenna, exercise):
    other = await sync_to_async(session_control.create_session)(facilitator=fenna, exercise=exercise, title="Ander")
    first, welcome = await phone(other.code)
    await first.disconnect()
    second, again = await phone(workshop_session.code, token=welcome["token"])
    assert again["token"] != welcome["token"]
    await second.disconnect()


BAD_MESSAGES = [
    ("not json", "invalid_json", None),
    ("[1, 2]", "invalid_message", None),
    ('"hello"', "invalid_message", None),
    ("{}", "missing_field", None),
    ('{"type": "dance"}', "unknown_type", None),
    ('{"type": "dance", "seq": 4}', "unknown_type", 4),
    ('{"type": "move", "slider": "nope", "value": 5}', "unknown_slider", None),
    ('{"type": "move", "value": 5}', "missing_field", None),
    ('{"type": "move", "slider": "regie"}', "missing_field", None),
    ('{"type": "move", "slider": "regie", "value": 101}', "invalid_value", None),
    ('{"type": "move", "slider": "regie", "value": -1}', "invalid_value", None),
    ('{"type": "move", "slider": "regie", "value": "50"}', "invalid_value", None),
    ('{"type": "move", "slider": "regie", "value": 50.5}', "invalid_value", None),
    ('{"type": "move", "slider": "regie", "value": true}', "invalid_value", None),
    ('{"type": "move", "slider": "regie", "value": null}', "invalid_value", None),
    ('{"type": "move", "slider": "regie", "value": NaN}', "invalid_json", None),
    ('{"type": "move", "slider": "regie", "value": 1e309}', "invalid_value", None),
    ('{"type": "move", "slider": "regie", "value": 9223372036854775808}', "invalid_value", None),
    ('{"type": "move", "slider": ["regie"], "value": 5}', "unknown_slider", None),
    ('{"type": "set", "slider": "regie", "value": 50}', "missing_field", None),
    ('{"type": "set", "slider": "regie", "value": 50, "seq": "1"}', "invalid_seq", None),
    ('{"type": "set", "slider": "regie", "value": 500, "seq": 7}', "invalid_value", 7),
    ('{"type": "set", "slider": "zzz", "value": 50, "seq": 8}', "unknown_slider", 8),
    ('{"type": "hello", "token": null}', "already_welcomed", None),
    ('{"type": "hello", "token": "another-phones-token"}', "already_welcomed", None),
    ('{"type": "move", "slider": "regie", "value": 5, "extra": 1}', "unknown_field", None),
    ('{"type": "set", "slider": "regie", "value": 50, "seq": 3, "token": "another-phones-token"}', "unknown_field", 3),
    ('{"type": "ping", "nested": {"a": [1, {"b": 2}]}}', "unknown_field", None),
    ("[" * 2000 + "]" * 2000, "invalid_json", None),  # deep nesting, within the size limit
]


@pytest.mark.parametrize(("text", "code", "seq"), BAD_MESSAGES)
async def test_bad_input_gets_an_error_changes_nothing_and_keeps_the_connection(workshop_session, text, code, seq):
    communicator, _ = await phone(workshop_session.code)
    reply = await send_raw(communicator, text)
    assert reply["type"] == "error"
    assert reply["code"] == code
    assert reply["message"]
    assert reply.get("seq") == seq
    assert await Position.objects.acount() == 0
    # Still usable afterwards.
    await communicator.send_json_to({"type": "set", "slider": "regie", "value": 40, "seq": 99})
    assert await communicator.receive_json_from() == {"type": "ack", "seq": 99, "round": 1}
    await communicator.disconnect()


async def test_an_oversized_frame_closes_with_4009(workshop_session):
    communicator, _ = await phone(workshop_session.code)
    await communicator.send_to(text_data=json.dumps({"type": "ping", "pad": "x" * 5000}))
    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4009}
    assert await Position.objects.acount() == 0


async def test_a_flooder_is_slowed_then_closed_while_a_normal_phone_is_not(workshop_session):
    flooder, _ = await phone(workshop_session.code)
    normal, _ = await phone(workshop_session.code)
    move = json.dumps({"type": "move", "slider": "regie", "value": 5})
    refused_reply = None
    for _ in range(400):
        await flooder.send_to(text_data=move)
    output = await flooder.receive_output(timeout=5)
    while output["type"] == "websocket.send":
        refused_reply = json.loads(output["text"])
        output = await flooder.receive_output(timeout=5)
    assert refused_reply == {"type": "error", "code": "rate_limited", "message": "Too many messages; slow down."}
    assert output == {"type": "websocket.close", "code": 4008}
    await normal.send_json_to({"type": "set", "slider": "regie", "value": 40, "seq": 1})
    assert await normal.receive_json_from() == {"type": "ack", "seq": 1, "round": 1}
    await normal.disconnect()


async def test_a_binary_frame_gets_an_error(workshop_session):
    communicator, _ = await phone(workshop_session.code)
    await communicator.send_to(bytes_data=b"\x00\x01")
    reply = json.loads(await communicator.receive_from())
    assert reply["code"] == "binary_not_supported"
    await communicator.disconnect()


@pytest.mark.parametrize(
    "message",
    [{"type": "move", "slider": "regie", "value": 5}, {"type": "set", "slider": "regie", "value": 5, "seq": 1}],
)
async def test_moves_before_hello_are_refused(workshop_session, message):
    communicator, connected = await open_socket(f"/ws/p/{workshop_session.code}/")
    assert connected
    await communicator.send_json_to(message)
    reply = await communicator.receive_json_from()
    assert reply["code"] == "hello_required"
    assert await Position.objects.acount() == 0
    await communicator.disconnect()


async def test_an_unknown_session_closes_with_4404(db):
    communicator, connected = await open_socket("/ws/p/ZZZZZZ/")
    assert connected
    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4404}


async def test_a_closed_session_closes_with_4404(workshop_session):
    await sync_to_async(closing.close_session)(session=workshop_session)
    communicator, _ = await open_socket(f"/ws/p/{workshop_session.code}/")
    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4404}


async def test_closing_the_session_tells_connected_phones_and_closes_them(workshop_session):
    communicator, _ = await phone(workshop_session.code)
    await sync_to_async(closing.close_session)(session=workshop_session)
    message = await communicator.receive_json_from()
    assert message["type"] == "state" and message["session"]["status"] == "closed"
    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4404}


@pytest.mark.parametrize("origin", [b"http://evil.example", b"null", None])
async def test_a_foreign_null_or_missing_origin_is_refused(workshop_session, origin):
    _, connected = await open_socket(f"/ws/p/{workshop_session.code}/", origin=(b"origin", origin) if origin else None)
    assert not connected


async def test_a_replayed_set_is_acknowledged_without_a_change_and_a_stale_one_is_refused(workshop_session):
    communicator, welcome = await phone(workshop_session.code)
    await communicator.send_json_to({"type": "set", "slider": "regie", "value": 40, "seq": 5})
    assert await communicator.receive_json_from() == {"type": "ack", "seq": 5, "round": 1}
    # The same frame again, as after a lost ack; and a forged copy with another value.
    for value in (40, 90):
        await communicator.send_json_to({"type": "set", "slider": "regie", "value": value, "seq": 5})
        assert await communicator.receive_json_from() == {"type": "ack", "seq": 5, "round": 1}
    await communicator.send_json_to({"type": "set", "slider": "regie", "value": 10, "seq": 4})
    reply = await communicator.receive_json_from()
    assert (reply["type"], reply["code"], reply["seq"]) == ("error", "stale_seq", 4)
    assert [p.value async for p in Position.objects.all()] == [40]
    await communicator.disconnect()
    again, state = await phone(workshop_session.code, token=welcome["token"])
    assert state["positions"]["regie"] == 40
    await again.send_json_to({"type": "set", "slider": "regie", "value": 70, "seq": 6})
    assert await again.receive_json_from() == {"type": "ack", "seq": 6, "round": 1}
    assert [p.value async for p in Position.objects.all()] == [70]
    await again.disconnect()


async def test_connects_and_disconnects_are_logged_without_tokens_bodies_or_addresses(workshop_session, caplog):
    caplog.set_level(logging.INFO, logger="workshop")
    communicator, _ = await open_socket(f"/ws/p/{workshop_session.code}/", address="198.51.100.23")
    await communicator.send_json_to({"type": "hello", "token": None})
    welcome = await communicator.receive_json_from()
    await communicator.send_json_to({"type": "set", "slider": "regie", "value": 61, "seq": 1})
    await communicator.receive_json_from()
    await communicator.send_to(text_data="x" * 5000)  # a violation: closed with 4009
    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4009}
    await communicator.disconnect()
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert f"phone connected: session={workshop_session.code}" in text
    assert f"phone disconnected: session={workshop_session.code}" in text
    assert "frame too large" in text
    assert welcome["token"] not in text
    assert "198.51.100.23" not in text
    assert '"value"' not in text and "xxxx" not in text


async def test_a_socket_that_keeps_failing_writes_one_warning_and_a_summary_a_minute(
    workshop_session, monkeypatch, caplog
):
    from django.db import OperationalError

    from workshop import participation
    from workshop.runtime import runtime

    async def database_away(**_kwargs):
        raise OperationalError("connection to 10.0.0.7 refused")

    monkeypatch.setattr(participation, "record_set", database_away)
    communicator, _ = await phone(workshop_session.code)
    caplog.set_level(logging.WARNING)
    replies = []
    for seq in range(1, 31):  # within the burst: every set reaches the database
        replies.append(
            await send_raw(communicator, json.dumps({"type": "set", "slider": "regie", "value": 5, "seq": seq}))
        )
    assert sum(r.get("code") == "not_stored" for r in replies) >= 20
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if "could not store a position" in w]) == 1, warnings
    later = runtime().warnings.clock() + 61
    runtime().warnings.clock = lambda: later
    last = await send_raw(communicator, json.dumps({"type": "set", "slider": "regie", "value": 5, "seq": 99}))
    assert last["code"] == "not_stored", last
    summary = [r.getMessage() for r in caplog.records if "held back" in r.getMessage()]
    held = sum(r.get("code") == "not_stored" for r in replies) - 1
    assert summary == [f"repeated socket warnings held back in the last minute: not_stored={held}"]
    assert "10.0.0.7" not in caplog.text and workshop_session.code in caplog.text
    await communicator.disconnect()
