"""The wire contract: the frames real sockets send are the ones docs/protocol.md documents.

Every frame a workshop sends, on the phone socket, the HTTP fallback and both dashboards, is checked against
its schema in docs/protocol.md (read from the document, tests/wire.py), and so is every frame the tests send
as a client. The screen's frames are also checked for what the room may not see: its `html` and its JSON
statistics come from one redacted view, so neither may carry a hidden slider's numbers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from tests import wire
from tests.conftest import session_cookie
from tests.sockets import open_socket
from tests.test_fallback import HttpPhone
from workshop import closing, protocol, session_control
from workshop.runtime import runtime

pytestmark = pytest.mark.django_db(transaction=True)


class Checked:
    """A socket whose every frame, either way, is checked against its documented schema and noted by type."""

    def __init__(self, communicator: WebsocketCommunicator, side: str, seen: set[str]) -> None:
        self.communicator = communicator
        self.side = side  # "phone" or "dashboard"
        self.seen = seen
        self.frames: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        schema = f"{self.side}/{message['type']}"
        wire.check(message, schema)
        self.seen.add(schema)
        await self.communicator.send_json_to(message)

    async def receive(self) -> dict[str, Any]:
        message = await self.communicator.receive_json_from(timeout=5)
        schema = f"{self.side}/{message['type']}"
        wire.check(message, schema)
        self.seen.add(schema)
        self.frames.append(message)
        return message

    async def expect(self, kind: str, *, passing: tuple[str, ...] = ()) -> dict[str, Any]:
        """The next frame, of this kind; frames of the `passing` kinds before it are checked and let by."""
        message = await self.receive()
        while message["type"] in passing:
            message = await self.receive()
        assert message["type"] == kind, message
        return message

    async def aggregate_until(self, predicate: Any, *, limit: int = 50) -> dict[str, Any]:
        """The first aggregate that satisfies predicate; each one confirmed with `seen`, as the page does."""
        for _ in range(limit):
            message = await self.receive()
            if message["type"] == "aggregate":
                await self.send({"type": "seen"})
                if predicate(message):
                    return message
        raise AssertionError("no aggregate satisfied the condition")


async def checked_phone(code: str, seen: set[str], **hello: Any) -> Checked:
    communicator, connected = await open_socket(f"/ws/p/{code}/")
    assert connected
    socket = Checked(communicator, "phone", seen)
    await socket.send({"type": "hello", "token": None, **hello})
    await socket.expect("welcome")
    return socket


async def checked_dashboard(user: Any, code: str, seen: set[str], *, screen: bool) -> Checked:
    cookie = await sync_to_async(session_cookie)(user)
    communicator, connected = await open_socket(f"/ws/d/{code}/" + ("?view=screen" if screen else ""), cookie=cookie)
    assert connected
    return Checked(communicator, "dashboard", seen)


def stats(message: dict[str, Any], key: str) -> dict[str, Any]:
    return next(s for s in message["sliders"] if s["key"] == key)


def numbers_outside_profiles(value: Any) -> list[float]:
    """Every number in a message's statistics: the profile list (distances, matches) left out."""
    if isinstance(value, dict):
        return [n for k, v in value.items() if k not in ("profiles", "html") for n in numbers_outside_profiles(v)]
    if isinstance(value, list):
        return [n for v in value for n in numbers_outside_profiles(v)]
    return [value] if isinstance(value, int | float) and not isinstance(value, bool) else []


def the_html_draws_what_the_json_carries(message: dict[str, Any], *, screen: bool) -> None:
    """The two presentations of one update agree slider by slider: a median in one is a median in the other."""
    html = message["html"]
    for row in message["sliders"]:
        key = row["key"]
        if f'data-slider="{key}"' not in html:
            continue  # not drawn (the lobby)
        median_in_html = f'data-testid="{"screen-" if screen else ""}median-{key}"' in html
        assert median_in_html == (row.get("median") is not None), (key, row)
        if screen:
            assert (f'data-testid="screen-count-{key}"' in html) == ("median" not in row), (key, row)
    if screen:
        revealed = 'data-testid="screen-profile"' in html
        assert revealed == (message["best"] is not None), message["best"]


def message_schemas() -> set[str]:
    """Every documented message."""
    return set(wire.schemas()) - {"parts"}


async def test_every_frame_of_a_workshop_matches_its_documented_schema(fenna, lobby_session):
    seen: set[str] = set()
    code = lobby_session.code
    group = await sync_to_async(session_control.add_group)(session=lobby_session, name="Trio A")
    control = await checked_dashboard(fenna, code, seen, screen=False)
    screen = await checked_dashboard(fenna, code, seen, screen=True)
    await control.aggregate_until(lambda m: m["status"] == "lobby")
    await screen.aggregate_until(lambda m: m["status"] == "lobby")

    first = await checked_phone(code, seen)
    second = await checked_phone(code, seen, group=group.pk)
    phones = (first, second)

    async def run(name: str, **kwargs: Any) -> None:
        """A facilitator's control: every phone gets its new state."""
        await sync_to_async(getattr(session_control, name))(session=lobby_session, **kwargs)
        for phone in phones:
            await phone.expect("state")

    await first.send({"type": "ping"})
    await first.expect("pong")
    await second.send({"type": "set", "slider": "regie", "value": 37, "seq": 1})
    assert (await second.expect("error"))["code"] == "slider_locked"
    await run("start_positioning")
    await first.send({"type": "set", "slider": "regie", "value": 37, "seq": 2})
    assert (await first.expect("error"))["code"] == "group_required"
    await first.send({"type": "group", "group": group.pk})
    await first.expect("state")
    await first.send({"type": "set", "slider": "regie", "value": 37, "seq": 3})
    await first.expect("ack")
    await first.send({"type": "abstain", "slider": "aanpak", "seq": 4})
    await first.expect("ack")
    await first.send({"type": "move", "slider": "sturing", "value": 20})
    await second.send({"type": "set", "slider": "regie", "value": 63, "seq": 2})
    await second.expect("ack")
    await second.send({"type": "clear", "slider": "regie", "seq": 3})
    await second.expect("ack")
    await second.send({"type": "set", "slider": "regie", "value": 63, "seq": 4})
    await second.expect("ack")

    # Counts only on the screen, everything on the control panel.
    hidden = await screen.aggregate_until(lambda m: stats(m, "regie")["n"] == 2)
    assert set(stats(hidden, "regie")) == {"key", "n", "abstained", "open"}
    full = await control.aggregate_until(lambda m: stats(m, "regie")["n"] == 2)
    assert stats(full, "regie")["median"] == 50

    await run("set_slider_results", slider="regie", shown=True)
    await screen.aggregate_until(lambda m: "median" in stats(m, "regie"))
    await run("start_timer", seconds=60, lock_when_done=True)
    await run("set_results", mode="shown")
    await run("start_discussion")
    await run("reveal_profile", revealed=True)
    await screen.aggregate_until(lambda m: m["best"] is not None)
    await run("start_round_two")
    await first.send({"type": "set", "slider": "regie", "value": 80, "seq": 5})
    await first.expect("ack")
    await screen.aggregate_until(lambda m: m["round"] == 2 and stats(m, "regie")["n"] == 1)
    round_two = await control.aggregate_until(lambda m: m["round"] == 2 and stats(m, "regie")["n"] == 1)
    assert stats(round_two, "regie")["before"] == 50 and stats(round_two, "regie")["median"] == 80
    await run("start_discussion")
    await run("reveal_profile", revealed=True)
    await run("reveal_to_phones", revealed=True)

    await control.communicator.send_json_to({"type": "reveal"})  # not a documented message: refused
    assert (await control.expect("error", passing=("aggregate", "controls")))["code"] == "read_only"

    await runtime().outbox.flush()
    await sync_to_async(closing.close_session)(session=lobby_session)
    for phone in phones:
        final = await phone.expect("state")
        assert final["session"]["status"] == "closed" and final["reveal"] is not None
        assert await phone.communicator.receive_output() == {"type": "websocket.close", "code": 4404}

    # The fallback's last event, for a session that is no longer open.
    http = HttpPhone(code)
    ended = await http.open()
    wire.check(ended, "phone/close")
    seen.add("phone/close")
    await http.close()

    for socket, is_screen in ((control, False), (screen, True)):
        for frame in socket.frames:
            if frame["type"] == "aggregate":
                the_html_draws_what_the_json_carries(frame, screen=is_screen)
                # Its indentation is sent as single line breaks: nothing in it may keep whitespace as written.
                assert "<pre" not in frame["html"] and "<textarea" not in frame["html"]
        await socket.communicator.disconnect()
    assert seen >= message_schemas(), sorted(message_schemas() - seen)


async def test_a_revealed_profile_brings_no_hidden_slider_to_the_screen(fenna, workshop_session):
    """Reveal and results are two switches: the profile on the screen must not bring the medians along."""
    seen: set[str] = set()
    code = workshop_session.code
    phone = await checked_phone(code, seen)
    for seq, key in enumerate(["regie", "aanpak", "sturing"], start=1):
        await phone.send({"type": "set", "slider": key, "value": 37, "seq": seq})
        await phone.expect("ack")
    await sync_to_async(session_control.start_round_two)(session=workshop_session)
    await phone.expect("state")
    for seq, key in enumerate(["regie", "aanpak", "sturing"], start=4):
        await phone.send({"type": "set", "slider": key, "value": 63, "seq": seq})
        await phone.expect("ack")
    await sync_to_async(session_control.start_discussion)(session=workshop_session)
    await phone.expect("state")
    await sync_to_async(session_control.reveal_profile)(session=workshop_session, revealed=True)
    screen = await checked_dashboard(fenna, code, seen, screen=True)
    frame = await screen.aggregate_until(lambda m: stats(m, "regie")["n"] == 1 and m["best"] is not None)
    # The profile is there (names, matches); no position, median or round-1 line of any slider is.
    assert frame["best_before"] is not None
    assert not {37, 63} & set(numbers_outside_profiles(frame)), numbers_outside_profiles(frame)
    html = frame["html"]
    for drawn in ('class="median"', 'class="before"', 'class="dot"', 'class="bar"', 'class="iqr"'):
        assert drawn not in html
    assert not re.search(r"\b(37|63)\b", re.sub(r"<svg.*?</svg>", "", html.split('class="stage')[0], flags=re.S))
    the_html_draws_what_the_json_carries(frame, screen=True)
    await screen.communicator.disconnect()
    await phone.communicator.disconnect()


async def test_a_frame_the_document_does_not_describe_is_refused(fenna, workshop_session):
    """The validator can fail: a real frame, changed the ways a careless change to the server would."""
    seen: set[str] = set()
    screen = await checked_dashboard(fenna, workshop_session.code, seen, screen=True)
    frame = await screen.aggregate_until(lambda m: True)
    await screen.communicator.disconnect()
    schema = wire.schemas()["dashboard/aggregate"]

    def problems(changed: dict[str, Any]) -> list[str]:
        return wire.errors(changed, schema, here="dashboard/aggregate")

    assert problems(frame) == []
    copy = json.loads(json.dumps(frame))
    copy["rounds"] = {}
    assert problems(copy), "an undocumented field"
    copy = json.loads(json.dumps(frame))
    del copy["best_before"]
    assert problems(copy), "a missing field"
    copy = json.loads(json.dumps(frame))
    copy["sliders"][0]["median"] = 50  # a hidden slider's statistic alone: neither counted nor complete
    assert problems(copy), "half the statistics"
    copy = json.loads(json.dumps(frame))
    copy["participants"] = "0"
    assert problems(copy), "a number as text"
    copy = json.loads(json.dumps(frame))
    copy["round"] = True
    assert problems(copy), "a boolean for a number"


def test_the_client_messages_in_the_document_are_the_ones_the_server_parses():
    documented = {
        schema_id.split("/", 1)[1]: set(schema["properties"]) - {"type"}
        for schema_id, schema in wire.schemas().items()
        if schema_id.startswith("phone/") and schema_id.split("/", 1)[1] in protocol.FIELDS
    }
    assert {kind: set(fields) for kind, fields in protocol.FIELDS.items()} == documented


def test_no_dashboard_update_is_bigger_than_before_the_one_redacted_view():
    """bench/update_bytes.py, as docs/performance.md reports it: every frame at most what it was at e192220."""
    script = wire.PROTOCOL.parent.parent / "bench" / "update_bytes.py"
    done = subprocess.run([sys.executable, str(script), "--markdown"], capture_output=True, text=True, check=True)
    rows = [line.split(" | ") for line in done.stdout.splitlines() if re.match(r"\| [\d,]+ \|", line)]
    assert len(rows) == 8, done.stdout
    for row in rows:
        before, now = (int(cell.replace(",", "")) for cell in row[3:5])
        assert now <= before, row
