"""Drives the real system in-process for the session model (tests/test_session_model.py).

The facilitator posts the control panel's forms through Django's test client; phones talk
through `workshop.phone.Conversation`, the conversation both the websocket and the HTTP
fallback carry (a phone socket's frames are handed to it as JSON text, and the session's
`session.changed` events are handed to it in order, as the relay does); fallback phones post
to `/p/<CODE>/stream/` and `/p/<CODE>/send/`. Events are read from the channel layer by a
channel of our own in the session's phones group, as a process's relay is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.test import Client
from django.utils import timezone, translation

from tests.conftest import forget_cache
from tests.sockets import http_client
from workshop import broadcast, closing, closing_watch, live_state, live_view, protocol, results, session_control
from workshop.models import Group, Participant, Session
from workshop.phone import Conversation, open_session
from workshop.runtime import runtime
from workshop.session_info import load_session_info

MARK = {"type": "model.mark"}


@dataclass
class Phone:
    """One participant's page: how it is carried, its token, and what it last heard."""

    http: bool
    token: str | None = None
    conversation: Conversation | None = None  # a websocket phone that is connected now
    seq: int = 0
    knob: dict[str, int] = field(default_factory=dict)  # where each slider's thumb stands on the page
    unacked: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)  # slider -> (seq, message)
    last: dict[str, Any] | None = None  # the last welcome or state
    gone: bool = False  # told the session closed (4404)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


@dataclass
class Reply:
    """What the server answered one phone action: the messages, and the close code if it ended."""

    messages: list[dict[str, Any]]
    close: int | None = None

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]


def unhurried() -> protocol.TokenBucket:
    """A phone's rate limit, lifted: the model explores the session's rules many steps a second, faster than
    anyone drags; the limit itself is tested in tests/test_participant_socket.py and tests/test_fallback.py."""
    return protocol.TokenBucket(rate=1e9, burst=1e9, tokens=1e9)


class Driver:
    def __init__(self, *, facilitator: Any, exercise: Any) -> None:
        forget_cache()  # the join guard's counts of the examples before
        self.session = session_control.create_session(facilitator=facilitator, exercise=exercise, title="Model")
        self.code = self.session.code
        self.client = Client()
        self.client.force_login(facilitator)
        self.phones: list[Phone] = []
        self.qrs: dict[str, str] = {}
        self.screen_frames: list[dict[str, Any]] = []
        self.channel = async_to_sync(self._listen)()

    async def _listen(self) -> str:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(broadcast.phones_group(self.code), channel)
        return channel

    def finish(self) -> None:
        """This example is over: its session must not be idle-closed or counted by the next one."""
        Session.objects.filter(pk=self.session.pk).update(status=Session.Status.CLOSED)
        async_to_sync(get_channel_layer().group_discard)(broadcast.phones_group(self.code), self.channel)

    # The facilitator ---------------------------------------------------------------

    def control(self, action: str, data: dict[str, Any]) -> int:
        response = self.client.post(f"/f/s/{self.code}/do/{action}/", data, HTTP_HX_REQUEST="true")
        self.pump()
        return response.status_code

    def close(self) -> int:
        response = self.client.post(f"/f/s/{self.code}/close/", HTTP_HX_REQUEST="true")
        self.pump()
        return response.status_code

    def next_step(self) -> str | None:
        """The control panel's primary button, as the facilitator sees it: the control it posts."""
        html = self.client.get(f"/f/s/{self.code}/").content.decode()
        found = re.search(r'class="[^"]*\bprimary\b[^"]*"[^>]*hx-post="[^"]*/do/([a-z_0-9]+)/"', html)
        found = found or re.search(r'hx-post="[^"]*/do/([a-z_0-9]+)/"[^>]*class="[^"]*\bprimary\b', html)
        if found:
            return found.group(1)
        return "close" if re.search(r'class="[^"]*\bprimary\b[^"]*"[^>]*hx-post="[^"]*/close/"', html) else None

    def group_id(self, name: str | None) -> int | None:
        found = Group.objects.filter(session=self.session, name=name).values_list("pk", flat=True).first()
        return found

    # Server events -----------------------------------------------------------------

    def expire_timer(self) -> None:
        """Time runs out. With a server event for it (`expire_timer`), that event; without one, only the
        clock moves on (the row's end is put in the past), as it did before there was an event."""
        session = Session.objects.get(pk=self.session.pk)
        if session.timer_ends_at is None:
            return
        later = session.timer_ends_at + timedelta(seconds=1)
        expire = getattr(session_control, "expire_timer", None)
        if expire is not None:
            expire(code=self.code, now=later)
        else:
            Session.objects.filter(pk=session.pk).update(timer_ends_at=timezone.now() - timedelta(seconds=1))
        self.pump()

    def idle_close(self, *, same_process: bool) -> None:
        """The hourly command, ARCHIVE_IDLE_HOURS later. From cron (another process) its event cannot
        reach this process's phones: then the event is dropped, as the in-memory layer drops it."""
        later = timezone.now() + timedelta(hours=settings.ARCHIVE_IDLE_HOURS + 1)
        closing.archive_idle_sessions(now=later)
        self.pump(deliver=same_process)

    def look_for_closes(self) -> None:
        """This process's periodic look for its phones' sessions closed by another process (closing_watch)."""
        async_to_sync(closing_watch.look)(set())
        self.pump()

    def pump(self, *, deliver: bool = True) -> None:
        """Hand every event broadcast so far to the connected phones, in order, as the relay does."""
        async_to_sync(self._pump)(deliver)

    async def _pump(self, deliver: bool) -> None:
        layer = get_channel_layer()
        await layer.send(self.channel, MARK)  # everything sent before it is read before it
        while (event := await layer.receive(self.channel))["type"] != MARK["type"]:
            if not deliver:
                continue
            event = runtime().relay.sessions.heard(self.code, event)  # the process's shared copy follows it
            for phone in self.phones:
                if phone.conversation is not None:
                    outcome = await phone.conversation.session_changed(event)
                    self._heard(phone, Reply(outcome.replies, outcome.close))

    # Phones ----------------------------------------------------------------------------

    def _heard(self, phone: Phone, reply: Reply) -> None:
        for message in reply.messages:
            if message["type"] in ("welcome", "state"):
                phone.last = message
            if message["type"] == "welcome":
                phone.token = message["token"]
            if message["type"] == "ack":
                for slider, (seq, _sent) in list(phone.unacked.items()):
                    if seq == message["seq"]:
                        del phone.unacked[slider]
        if reply.close is not None:
            phone.gone = reply.close == 4404
            phone.conversation = None

    def hello(self, phone: Phone, group: int | None = None) -> Reply:
        """Open the page (again): a hello with the phone's token."""
        hello = {"type": "hello", "token": phone.token, **({"group": group} if group else {})}
        reply = async_to_sync(self._stream_hello if phone.http else self._socket_hello)(phone, hello)
        self._heard(phone, reply)
        if phone.http and reply.of("welcome"):
            token_hash = Participant.hash_token(reply.of("welcome")[0]["token"])
            participant = Participant.objects.filter(token_hash=token_hash).values_list("pk", flat=True).first()
            runtime().http_buckets[participant] = unhurried()
        return reply

    async def _socket_hello(self, phone: Phone, hello: dict[str, Any]) -> Reply:
        await self._leave(phone)
        info, refused = await open_session(code=self.code, address=self.address(phone))
        if info is None:
            return Reply([], refused)
        conversation = Conversation(info, language="nl", name=f"model.{id(phone)}", bucket=unhurried())
        outcome = await conversation.receive(json.dumps(hello))
        if conversation.participant is not None:
            phone.conversation = conversation
        return Reply(outcome.replies, outcome.close)

    async def _stream_hello(self, phone: Phone, hello: dict[str, Any]) -> Reply:
        """The fallback's stream: its first event (the welcome or the refusal); then the stream goes away
        (the loop's end closes it), and the phone carries on with POSTs."""
        client = http_client(self.address(phone))
        response = await client.post(f"/p/{self.code}/stream/", hello, content_type="application/json")
        messages = []
        async for chunk in response.streaming_content:
            for line in chunk.decode().split("\n"):
                if line.startswith("data: "):
                    messages.append(json.loads(line[6:]))
            if messages:
                break
        close = next((m["code"] for m in messages if m["type"] == "close"), None)
        return Reply([m for m in messages if m["type"] != "close"], close)

    def send(self, phone: Phone, message: dict[str, Any], *, resend: bool = False) -> Reply:
        """One message from a welcomed phone; a set or abstain stays unacknowledged until its ack."""
        if "seq" in message and not resend:
            phone.unacked[message["slider"]] = (message["seq"], message)
        frame = {k: v for k, v in message.items() if k != "clear"}  # "clear": the model's note, not sent
        reply = async_to_sync(self._http_send if phone.http else self._socket_send)(phone, frame)
        self._heard(phone, reply)
        self.pump()  # a phone that found the stored session newer than its copy has it announced
        return reply

    async def _socket_send(self, phone: Phone, message: dict[str, Any]) -> Reply:
        assert phone.conversation is not None
        outcome = await phone.conversation.receive(json.dumps(message))
        return Reply(outcome.replies, outcome.close)

    async def _http_send(self, phone: Phone, message: dict[str, Any]) -> Reply:
        body = {"token": phone.token, "messages": [message]}
        client = http_client(self.address(phone))
        response = await client.post(f"/p/{self.code}/send/", body, content_type="application/json")
        answer = json.loads(response.content)
        return Reply(answer.get("replies", []), answer.get("close"))

    def address(self, phone: Phone) -> str:
        """Each phone its own address: the join guard counts a closed session's lookups per address."""
        index = self.phones.index(phone)
        return f"10.0.{index // 250}.{index % 250 + 1}"

    def offline(self, phone: Phone) -> None:
        async_to_sync(self._leave)(phone)

    async def _leave(self, phone: Phone) -> None:
        conversation, phone.conversation = phone.conversation, None
        if conversation is not None:
            await conversation.leave()

    # What the room and the facilitator see ----------------------------------------------

    def views(self) -> dict[str, Any]:
        """The control panel's and the screen's live context, and the screen socket's message."""
        info = load_session_info(code=self.code)
        assert info is not None
        result = live_view.live_result(info)
        join_url = f"http://testserver/j/{self.code}/"
        screen = live_view.render_aggregate(
            info, live_state.snapshot(info), language="nl", screen=True, join_url=join_url, qrs=self.qrs
        )
        return {
            "info": info,
            "panel": live_view.live_context(info, result),
            "screen_context": live_view.live_context(info, result, screen=True),
            "screen": screen,
        }

    def results(self, *, download: bool) -> dict[str, Any]:
        """results.json: downloaded as the facilitator does (`download`), or built by the same function
        without the request around it (a third of a step's time)."""
        if not download:
            with translation.override("nl"):
                return results.as_json(Session.objects.select_related("exercise").get(pk=self.session.pk))
        response = self.client.get(f"/f/s/{self.code}/results.json")
        assert response.status_code == 200, response.status_code
        return json.loads(b"".join(response.streaming_content) if response.streaming else response.content)
