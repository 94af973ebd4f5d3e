"""Phones over plain HTTP when the venue blocks websockets: the same messages, checks and acknowledgements."""

import asyncio
import json
import random

import pytest
from asgiref.sync import sync_to_async
from channels.testing import ApplicationCommunicator

from config.asgi import application
from tests.sockets import aggregate_until, open_dashboard, phone, slider
from tests.test_fuzz import hostile_frames
from workshop import closing, guard, protocol, session_control
from workshop.models import Position

pytestmark = pytest.mark.django_db(transaction=True)


class HttpPhone:
    """A phone on the fallback: one event stream, and POSTs for everything it sends, through the whole ASGI
    application in-process, as daphne calls it (config/asgi.py: the fallback's own door, not Django's views)."""

    def __init__(self, code: str, address: str = "192.0.2.10") -> None:
        self.code = code
        self.address = address
        self.stream: ApplicationCommunicator | None = None
        self.token = None
        self.buffer = ""
        self.status: int | None = None
        self.headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")]

    def scope(self, path: str, method: str = "POST", headers: list | None = None) -> dict:
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": self.headers if headers is None else headers,
            "client": (self.address, 50000),
            "server": ("127.0.0.1", 8000),
        }

    async def open(self, token: str | None = None, **hello) -> dict:
        """POST the hello; the stream's first event (or, for a refused stream, its JSON body)."""
        await self.close()
        body = json.dumps({"type": "hello", "token": token, **hello}).encode()
        self.stream = ApplicationCommunicator(application, self.scope(f"/p/{self.code}/stream/"))
        await self.stream.send_input({"type": "http.request", "body": body})
        start = await self.stream.receive_output(5)
        self.status = start["status"]
        headers = dict(start["headers"])
        self.buffer = ""
        if self.status != 200:
            answer = json.loads((await self.stream.receive_output(5))["body"])
            await self.close()
            return answer
        assert headers[b"content-type"].startswith(b"text/event-stream")
        assert headers[b"x-accel-buffering"] == b"no"
        first = await self.next_event()
        if first["type"] == "welcome":
            self.token = first["token"]
        return first

    async def next_event(self, timeout: float = 5) -> dict:
        assert self.stream is not None
        while "\n\n" not in self.buffer:
            self.buffer += (await self.stream.receive_output(timeout))["body"].decode()
        block, self.buffer = self.buffer.split("\n\n", 1)
        if block.startswith(":"):  # a keepalive comment
            return await self.next_event(timeout)
        return json.loads(block.removeprefix("data: "))

    async def post(self, path: str, body: bytes, method: str = "POST") -> tuple[int, bytes]:
        communicator = ApplicationCommunicator(application, self.scope(path, method))
        await communicator.send_input({"type": "http.request", "body": body})
        start = await communicator.receive_output(5)
        answer = await communicator.receive_output(5)
        await communicator.wait(5)
        return start["status"], answer.get("body", b"")

    async def send(self, *messages: dict, token: str | None = None) -> dict:
        body = json.dumps({"token": token or self.token, "messages": list(messages)}).encode()
        status, answer = await self.post(f"/p/{self.code}/send/", body)
        assert status == 200, answer
        return json.loads(answer)

    async def close(self) -> None:
        """The phone goes away: its connection closes, and the stream ends."""
        if self.stream is not None:
            stream, self.stream = self.stream, None
            await stream.send_input({"type": "http.disconnect"})
            await stream.wait(5)


async def test_a_phone_on_http_joins_sets_and_is_counted_like_a_socket_phone(fenna, workshop_session):
    dashboard = await open_dashboard(fenna, workshop_session.code)
    http = HttpPhone(workshop_session.code)
    welcome = await http.open()
    assert welcome["type"] == "welcome" and welcome["session"]["status"] == "positioning"
    answer = await http.send(
        {"type": "move", "slider": "regie", "value": 20},
        {"type": "set", "slider": "regie", "value": 35, "seq": 1},
        {"type": "abstain", "slider": "horizon", "seq": 2},
        {"type": "ping"},
    )
    assert answer == {
        "replies": [{"type": "ack", "seq": 1, "round": 1}, {"type": "ack", "seq": 2, "round": 1}, {"type": "pong"}],
        "close": None,
    }
    # Acknowledged means stored.
    stored = await sync_to_async(dict)(Position.objects.values_list("slider__key", "value"))
    assert stored == {"regie": 35, "horizon": None}
    message = await aggregate_until(
        dashboard, lambda m: (slider(m, "regie")["n"], slider(m, "horizon")["abstained"], m["connected"]) == (1, 1, 1)
    )
    assert slider(message, "regie")["median"] == 35
    await http.close()
    await dashboard.disconnect()


async def test_the_stream_carries_the_facilitators_changes_and_ends_when_the_session_closes(workshop_session):
    http = HttpPhone(workshop_session.code)
    await http.open()
    await sync_to_async(session_control.start_discussion)(session=workshop_session)
    assert (await http.next_event())["session"]["status"] == "discussion"
    await sync_to_async(closing.close_session)(session=workshop_session)
    final = await http.next_event()
    assert final["type"] == "state" and final["session"]["status"] == "closed"
    assert await http.next_event() == {"type": "close", "code": 4404}


async def test_a_phone_moves_between_transports_without_losing_or_doubling_a_value(workshop_session):
    http = HttpPhone(workshop_session.code)
    token = (await http.open())["token"]
    assert (await http.send({"type": "set", "slider": "aanpak", "value": 61, "seq": 7}))["replies"][0]["type"] == "ack"
    await http.close()
    # The ack was lost on the way: over the socket the phone sends the same set again, and one more.
    socket, welcome = await phone(workshop_session.code, token=token)
    assert welcome["positions"]["aanpak"] == 61
    await socket.send_json_to({"type": "set", "slider": "aanpak", "value": 61, "seq": 7})
    assert await socket.receive_json_from() == {"type": "ack", "seq": 7, "round": 1}
    await socket.send_json_to({"type": "set", "slider": "aanpak", "value": 62, "seq": 8})
    assert (await socket.receive_json_from())["type"] == "ack"
    await socket.disconnect()
    # And back to HTTP: an older set is stale and changes nothing.
    http = HttpPhone(workshop_session.code)
    assert (await http.open(token=token))["positions"]["aanpak"] == 62
    assert (await http.send({"type": "set", "slider": "aanpak", "value": 10, "seq": 7}))["replies"][0]["code"] == (
        "stale_seq"
    )
    await http.close()
    rows = await sync_to_async(list)(Position.objects.values_list("slider__key", "value"))
    assert rows == [("aanpak", 62)]


async def test_hostile_input_over_http_gets_errors_and_changes_nothing(workshop_session, figure):
    http = HttpPhone(workshop_session.code)
    await http.open()
    frames = hostile_frames(random.Random(16), 120)
    statuses: dict[int, int] = {}
    replies = 0
    for frame in frames:
        # As the whole body, and, where it is JSON, as a message of a well-formed body.
        status, _answer = await http.post(f"/p/{http.code}/send/", frame.encode())
        statuses[status] = statuses.get(status, 0) + 1
        try:
            message = json.loads(frame)
        except ValueError:
            continue
        answer = await http.send(message)
        assert all(reply["type"] == "error" for reply in answer["replies"]), answer
        replies += len(answer["replies"])
    assert set(statuses) <= {200, 400}
    assert await sync_to_async(Position.objects.count)() == 0
    # The phone's conversation is unharmed. On a fast machine the loop above empties its rate-limit
    # bucket; refilling it is a matter of time (one token per 1/RATE_PER_SECOND s), not of an event.
    await asyncio.sleep(2 / protocol.RATE_PER_SECOND)
    assert (await http.send({"type": "set", "slider": "regie", "value": 50, "seq": 1}))["replies"][0]["type"] == "ack"
    figure(f"fallback fuzz: {len(frames)} hostile bodies, {replies} error replies, 0 state changes")
    await http.close()


async def test_the_fallback_keeps_the_sockets_limits(workshop_session):
    http = HttpPhone(workshop_session.code)
    await http.open()
    # The socket's bucket: a burst of 40, then `rate_limited`; the stream and the POSTs share it.
    answer = await http.send(*[{"type": "move", "slider": "regie", "value": 50}] * 50)
    assert answer["replies"] == [{"type": "error", "code": "rate_limited", "message": "Too many messages; slow down."}]
    too_many = json.dumps({"token": http.token, "messages": [{"type": "ping"}] * 51}).encode()
    assert (await http.post(f"/p/{http.code}/send/", too_many))[0] == 400
    await http.close()


async def test_without_a_stream_a_token_is_not_enough_and_a_stranger_gets_nothing(workshop_session):
    http = HttpPhone(workshop_session.code)
    assert (await http.send({"type": "ping"}, token="not-a-token"))["replies"][0]["code"] == "hello_required"
    assert (await http.post(f"/p/{workshop_session.code}/stream/", b"", method="GET"))[0] == 405


async def test_unknown_codes_close_the_stream_like_the_socket_and_count_for_the_guard(workshop_session, monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(guard, "clock", lambda: now[0])
    http = HttpPhone("ZZZZZZ")
    for _ in range(guard.MAX_FAILURES + 1):  # the limit, then this second's one lookup (issue 23)
        assert await http.open() == {"type": "close", "code": 4404}
    assert await HttpPhone("ZZZZZY", http.address).open() == {"type": "close", "code": 4429}
    now[0] += 1
    # The open session is still found from the same address (from the next second).
    assert (await HttpPhone(workshop_session.code, http.address).open())["type"] == "welcome"


async def test_a_locked_room_refuses_a_new_http_phone_with_the_sockets_code(workshop_session):
    await sync_to_async(session_control.set_room_locked)(session=workshop_session, locked=True)
    http = HttpPhone(workshop_session.code)
    assert (await http.open())["code"] == "room_locked"
    assert await http.next_event() == {"type": "close", "code": 4409}
