"""Websocket consumers: parse, validate, call a service, send. See docs/protocol.md."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation.trans_real import parse_accept_lang_header
from redis.exceptions import RedisError

from workshop import aggregates, guard, live, protocol, services
from workshop.protocol import ProtocolError

log = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_REFUSED = 4409
CLOSE_TOO_MANY = 4429
# Autobahn (daphne) lets an application close only with 1000 or 3000-4999, so the
# standard 1008 (policy) and 1009 (too big) become 4008 and 4009.
CLOSE_POLICY = 4008
CLOSE_TOO_BIG = 4009
CLOSE_TRY_AGAIN = 4503
CLOSE_ABNORMAL = 1006  # only reported to our own disconnect(), never sent
# What a database or Redis that is away raises. The socket closes with 4503 and
# the page reconnects with backoff; a warning, not a traceback per socket.
UNAVAILABLE = (DatabaseError, RedisError, OSError)
# Refused messages (over the rate) before a flooding socket is closed.
FLOOD_LIMIT = 200
# Aggregates a dashboard may have unconfirmed: past this the server waits for a
# `seen` and then sends the newest, so a stalled projector costs two messages of
# memory, not a growing backlog, and gets the current snapshot when it resumes.
UNSEEN_LIMIT = 2
CONTROL_LIVE = "workshop/dashboard.html#live"
SCREEN_LIVE = "workshop/screen.html#live"

# Sockets of one participant in this process (duplicate tabs count once).
_local_sockets: Counter[tuple[str, int]] = Counter()


def language_from_scope(scope: dict[str, Any]) -> str:
    supported = {code for code, _ in settings.LANGUAGES}
    chosen = scope.get("cookies", {}).get(settings.LANGUAGE_COOKIE_NAME, "")
    if chosen in supported:
        return chosen
    for name, value in scope.get("headers", []):
        if name == b"accept-language":
            for language, _ in parse_accept_lang_header(value.decode("latin-1")):
                if language[:2] in supported:
                    return language[:2]
    return settings.LANGUAGE_CODE


def join_url(scope: dict[str, Any], code: str) -> str:
    """The participants' link, on the host and scheme the dashboard itself was reached by."""
    host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), "localhost")
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    return f"{scheme}://{host}{reverse('join', kwargs={'code': code})}"


class JsonSocket(AsyncWebsocketConsumer):
    kind = "a"  # for the logs: "a phone", "a dashboard"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        except Disconnected:
            # The peer went away while we were sending to it: clean up as for any close.
            with contextlib.suppress(*UNAVAILABLE):
                await self.disconnect(CLOSE_ABNORMAL)
        except UNAVAILABLE as error:
            log.warning("closed %s socket: %s (%s)", self.kind, type(error).__name__, _service(error))
            with contextlib.suppress(*UNAVAILABLE):
                await self.disconnect(CLOSE_TRY_AGAIN)
            with contextlib.suppress(Disconnected):
                await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN})

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels hops to the database thread before every message to close old
        # connections. Our database calls go through database_sync_to_async, which
        # does that around each call, so a `move` (no database at all) skips the hop.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content, separators=(",", ":")))


def _service(error: BaseException) -> str:
    return "database unavailable" if isinstance(error, DatabaseError) else "live store or channel layer unavailable"


def encode_position(value: int | None) -> int | str | None:
    return "abstain" if value == live.ABSTAIN else value


class ParticipantConsumer(JsonSocket):
    kind = "a phone"
    info: services.SessionInfo | None = None
    participant: int | None = None
    group: int | None = None
    result: dict[str, Any] | None = None

    async def connect(self) -> None:
        code = self.scope["url_route"]["kwargs"]["code"].upper()
        address = (self.scope.get("client") or [None])[0]
        await self.accept()
        if await sync_to_async(guard.blocked, thread_sensitive=False)(address):
            await self.close(code=CLOSE_TOO_MANY)
            return
        self.info = await services.aload_session_info(code=code)
        if self.info is None or not self.info.session.is_open:
            self.info = None
            await sync_to_async(guard.failed, thread_sensitive=False)(address)
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.language = language_from_scope(self.scope)
        self.last_touch = 0.0
        self.bucket = protocol.TokenBucket()
        self.refused = 0
        await self.channel_layer.group_add(services.phones_group(code), self.channel_name)
        log.info("phone connected: session=%s", code)

    async def disconnect(self, close_code: int) -> None:
        if self.info is None:
            return
        info, self.info = self.info, None  # once, whichever way the socket ends
        log.info("phone disconnected: session=%s close=%s", info.code, close_code)
        # This process's own count first: it must stay right even when Redis is away.
        left = False
        if self.participant is not None:
            key = (info.code, self.participant)
            _local_sockets[key] -= 1
            if _local_sockets[key] <= 0:
                del _local_sockets[key]
                left = True
        await self.channel_layer.group_discard(services.phones_group(info.code), self.channel_name)
        if left:
            await services.leave(info=info, participant=self.participant)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.info is None:
            return
        frame = text_data if text_data is not None else bytes_data
        if frame is not None and len(frame) > protocol.MAX_FRAME_CHARS:
            log.warning("closed a phone socket: frame too large, session=%s", self.info.code)
            await self.close(code=CLOSE_TOO_BIG)
            return
        if not self.bucket.take(asyncio.get_running_loop().time()):
            self.refused += 1
            if self.refused >= FLOOD_LIMIT:
                log.warning("closed a phone socket: sustained flooding, session=%s", self.info.code)
                await self.close(code=CLOSE_POLICY)
            elif self.refused % 20 == 1:
                # Say it now and then, not for every dropped message: replies cost too.
                await self.send_json(
                    {"type": "error", "code": "rate_limited", "message": "Too many messages; slow down."}
                )
            return
        try:
            message = protocol.parse(text_data, sliders=self.info.slider_keys)
            await self.handle(message)
        except ProtocolError as error:
            await self.send_json(error.as_reply())

    async def handle(self, message: protocol.Message) -> None:
        assert self.info is not None
        seq = getattr(message, "seq", None)
        if isinstance(message, protocol.Hello):
            await self.hello(message)
            return
        if self.participant is None:
            raise ProtocolError("hello_required", "Send hello before anything else.", seq)
        await self.keep_alive()
        if isinstance(message, protocol.Ping):
            await self.send_json({"type": "pong"})
            return
        session = self.info.session
        if not session.is_open:
            raise ProtocolError("session_closed", "This session has closed.", seq)
        if isinstance(message, protocol.ChooseGroup):
            await self.choose_group(message.group)
            return
        if self.info.groups and self.group is None:
            raise ProtocolError("group_required", "Choose your group first.", seq)
        assert isinstance(message, protocol.Move | protocol.Set | protocol.Abstain)
        if not session.slider_open(message.slider):
            raise ProtocolError("slider_locked", "This slider is locked right now.", seq)
        if isinstance(message, protocol.Move):
            services.record_move(
                info=self.info, participant=self.participant, slider=message.slider, value=message.value
            )
            return
        value = live.ABSTAIN if isinstance(message, protocol.Abstain) else message.value
        try:
            round = await services.record_set(
                info=self.info, participant=self.participant, slider=message.slider, value=value, seq=message.seq
            )
        except services.StaleSet:
            raise ProtocolError(
                "stale_seq", "A newer value for this slider is already stored; this one is ignored.", message.seq
            ) from None
        except Exception as error:
            if isinstance(error, UNAVAILABLE):
                log.warning("could not store a position in session=%s: %s", self.info.code, _service(error))
            else:
                log.exception("could not store a position in session=%s", self.info.code)
            raise ProtocolError(
                "not_stored", "Your position was not saved; it is sent again automatically.", message.seq
            ) from None
        await self.send_json({"type": "ack", "seq": message.seq, "round": round})

    async def hello(self, message: protocol.Hello) -> None:
        assert self.info is not None
        if self.participant is not None:
            raise ProtocolError("already_welcomed", "This connection has already said hello.")
        try:
            joined = await services.join(info=self.info, token=message.token, group=message.group)
        except services.JoinRefused as refused:
            await self.send_json({"type": "error", "code": refused.code, "message": refused.message})
            if refused.code in ("room_locked", "room_full"):
                await self.close(code=CLOSE_REFUSED)
            return
        self.participant, self.group = joined.participant, joined.group
        _local_sockets[(self.info.code, joined.participant)] += 1
        self.last_touch = asyncio.get_running_loop().time()
        if self.info.session.profile_to_phones:
            snapshot = await live.get_store().snapshot(self.info.code)
            self.result = services.public_result(self.info, snapshot)
        await self.send_json({"type": "welcome", "token": joined.token, **await self.state()})

    async def choose_group(self, group: int) -> None:
        assert self.info is not None and self.participant is not None
        try:
            chosen = await services.choose_group(info=self.info, participant=self.participant, group=group)
        except services.JoinRefused as refused:
            raise ProtocolError(refused.code, refused.message) from None
        if not chosen:
            raise ProtocolError("group_already_chosen", "You are already in a group.")
        self.group = group
        await self.send_json({"type": "state", **await self.state()})

    async def state(self) -> dict[str, Any]:
        """Everything the phone shows: phase, round, sliders, own positions, timer, revealed result."""
        assert self.info is not None and self.participant is not None
        session = self.info.session
        positions = await services.positions(info=self.info, participant=self.participant, round=session.round)
        previous = None
        if session.round == 2:
            previous = await services.positions(info=self.info, participant=self.participant, round=1)
        timer = None
        if session.timer_ends_at is not None:
            remaining = (session.timer_ends_at - timezone.now()).total_seconds()
            timer = {"remaining_ms": max(0, int(remaining * 1000)), "locks": session.timer_locks}
        with translation.override(self.language):
            sliders = [
                {"key": s.key, "label": s.label, "left": s.left, "right": s.right, "open": session.slider_open(s.key)}
                for s in self.info.sliders
            ]
            reveal = self.reveal()
        return {
            "session": {"code": session.code, "title": session.title, "status": session.status, "round": session.round},
            "sliders": sliders,
            "positions": {k: encode_position(v) for k, v in positions.items()},
            "previous": None if previous is None else {k: encode_position(v) for k, v in previous.items()},
            "groups": [{"id": g, "name": name} for g, name in self.info.groups],
            "group": self.group,
            "timer": timer,
            "reveal": reveal,
        }

    def reveal(self) -> dict[str, Any] | None:
        """The revealed result in the phone's language, from the language-neutral broadcast."""
        assert self.info is not None
        session = self.info.session
        if self.result is None or not (session.profile_to_phones or not session.is_open):
            return None
        rounds = {}
        for round, data in self.result.items():
            profile = self.info.profile(data["best"]) if data["best"] else None
            rounds[round] = {
                "medians": data["medians"],
                "profile": None
                if profile is None
                else {
                    "key": profile.key,
                    "name": profile.name,
                    "description": profile.description,
                    "assignment": profile.assignment,
                },
            }
        return {"rounds": rounds}

    async def keep_alive(self) -> None:
        # Refresh "connected now" a few times per TTL, not on every message.
        assert self.info is not None and self.participant is not None
        now = asyncio.get_running_loop().time()
        if now - self.last_touch > settings.CONNECTED_TTL / 3:
            self.last_touch = now
            await services.still_connected(info=self.info, participant=self.participant)

    async def session_changed(self, event: dict[str, Any]) -> None:
        assert self.info is not None
        self.info = self.info.with_state(event["state"])
        self.result = event.get("result")
        if self.participant is not None:
            await self.send_json({"type": "state", **await self.state()})
        if not self.info.session.is_open:
            await self.close(code=CLOSE_NOT_FOUND)


class DashboardConsumer(JsonSocket):
    kind = "a dashboard"
    info: services.SessionInfo | None = None

    async def connect(self) -> None:
        code = self.scope["url_route"]["kwargs"]["code"].upper()
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        info = await services.aload_session_info(code=code)
        if info is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        if not (user.is_superuser or info.session.facilitator_id == user.pk):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.info = info
        self.language = language_from_scope(self.scope)
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.template = SCREEN_LIVE if query.get("view") == ["screen"] else CONTROL_LIVE
        self.join = aggregates.join_context(join_url(self.scope, code))
        self.pending: asyncio.Task[None] | None = None
        self.last_sent = 0.0
        self.unseen = 0
        self.held = False
        await self.channel_layer.group_add(services.dashboard_group(code), self.channel_name)
        log.info("dashboard connected: session=%s user=%s", code, user.pk)
        await self.send_aggregate()

    async def disconnect(self, close_code: int) -> None:
        if self.info is None:
            return
        info, self.info = self.info, None  # once, whichever way the socket ends
        log.info("dashboard disconnected: session=%s close=%s", info.code, close_code)
        if self.pending is not None:
            self.pending.cancel()
        await self.channel_layer.group_discard(services.dashboard_group(info.code), self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.info is None:
            return
        try:
            protocol.parse_dashboard(text_data)
        except ProtocolError as error:
            await self.send_json(error.as_reply())
            return
        self.unseen = max(0, self.unseen - 1)
        if self.held:
            self.held = False
            self.schedule()

    async def live_changed(self, event: dict[str, Any]) -> None:
        self.schedule()

    async def session_changed(self, event: dict[str, Any]) -> None:
        assert self.info is not None
        self.info = self.info.with_state(event["state"])
        self.schedule()

    def schedule(self) -> None:
        """Coalesce: at most one aggregate per DASHBOARD_TICK, however many changes arrive."""
        if self.info is None or self.pending is not None:
            return
        if self.unseen >= UNSEEN_LIMIT:
            self.held = True
            return
        delay = max(0.0, self.last_sent + settings.DASHBOARD_TICK - asyncio.get_running_loop().time())
        self.pending = asyncio.create_task(self._send_after(delay))

    async def _send_after(self, delay: float) -> None:
        await asyncio.sleep(delay)  # the throttle window, not synchronisation
        self.pending = None
        info = self.info
        if info is None:
            return  # disconnected meanwhile
        try:
            await self.send_aggregate()
        except Disconnected:
            pass  # the dashboard closed meanwhile; its disconnect follows
        except UNAVAILABLE as error:
            log.warning("could not send an aggregate for session=%s: %s", info.code, error)
        except Exception:
            # One failed update must not stop the next ones.
            log.exception("could not send an aggregate for session=%s", info.code)

    async def send_aggregate(self) -> None:
        # This session's state as it is now: a disconnect or a control may replace
        # self.info while this runs; the next aggregate picks that up.
        info = self.info
        assert info is not None
        self.last_sent = asyncio.get_running_loop().time()
        snapshot = await live.get_store().snapshot(info.code)
        if not snapshot.seeded:
            # On connect, after a reset, or when a restarted Redis came back empty.
            await services.ensure_live(info=info)
            snapshot = await live.get_store().snapshot(info.code)
        result = aggregates.compute(info, snapshot)
        with translation.override(self.language):
            message = aggregates.aggregate_message(info, result)
            context = {**aggregates.dashboard_context(info, result), **self.join}
            message["html"] = render_to_string(self.template, context)
        self.unseen += 1
        await self.send_json(message)
