"""Websocket consumers: parse, validate, call a service, send. See docs/protocol.md."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs

from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from django.conf import settings

from workshop import access, broadcast, guard, live_state, live_view, participation, protocol
from workshop.protocol import ProtocolError
from workshop.session_info import SessionInfo, aload_session_info
from workshop.websocket import (
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    CLOSE_POLICY,
    CLOSE_REFUSED,
    CLOSE_TOO_BIG,
    CLOSE_TOO_MANY,
    UNAVAILABLE,
    JsonSocket,
    join_url,
    language_from_scope,
    service_name,
)

log = logging.getLogger(__name__)

# Refused messages (over the rate) before a flooding socket is closed.
FLOOD_LIMIT = 200
# Aggregates a dashboard may have unconfirmed: past this the server waits for a
# `seen` and then sends the newest, so a stalled projector costs two messages of
# memory, not a growing backlog, and gets the current snapshot when it resumes.
UNSEEN_LIMIT = 2


class ParticipantConsumer(JsonSocket):
    kind = "a phone"
    info: SessionInfo | None = None
    participant: int | None = None
    group: int | None = None
    result: dict[str, Any] | None = None

    async def connect(self) -> None:
        code = self.scope["url_route"]["kwargs"]["code"].upper()
        address = (self.scope.get("client") or [None])[0]
        await self.accept()
        info = await aload_session_info(code=code)
        found = info is not None and info.session.is_open
        if not await guard.alookup_allowed(address, found=found):
            await self.close(code=CLOSE_TOO_MANY)
            return
        if not found:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.info = info
        self.language = language_from_scope(self.scope)
        self.last_touch = 0.0
        self.bucket = protocol.TokenBucket()
        self.refused = 0
        await self.channel_layer.group_add(broadcast.phones_group(code), self.channel_name)
        log.info("phone connected: session=%s", code)

    async def disconnect(self, close_code: int) -> None:
        if self.info is None:
            return
        info, self.info = self.info, None  # once, whichever way the socket ends
        log.info("phone disconnected: session=%s close=%s", info.code, close_code)
        await self.channel_layer.group_discard(broadcast.phones_group(info.code), self.channel_name)
        if self.participant is not None:
            await participation.leave(info=info, participant=self.participant)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.info is None:
            return
        frame = text_data if text_data is not None else bytes_data
        if frame is not None and len(frame) > protocol.MAX_FRAME_CHARS:
            self.warn("frame_too_large", "closed a phone socket: frame too large, session=%s", self.info.code)
            await self.close(code=CLOSE_TOO_BIG)
            return
        if not self.bucket.take(asyncio.get_running_loop().time()):
            self.refused += 1
            if self.refused >= FLOOD_LIMIT:
                self.warn("flooding", "closed a phone socket: sustained flooding, session=%s", self.info.code)
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
            participation.record_move(
                info=self.info, participant=self.participant, slider=message.slider, value=message.value
            )
            return
        value = None if isinstance(message, protocol.Abstain) else message.value
        try:
            round = await participation.record_set(
                info=self.info, participant=self.participant, slider=message.slider, value=value, seq=message.seq
            )
        except participation.StaleSet:
            raise ProtocolError(
                "stale_seq", "A newer value for this slider is already stored; this one is ignored.", message.seq
            ) from None
        except Exception as error:
            if isinstance(error, UNAVAILABLE):
                self.warn(
                    "not_stored", "could not store a position in session=%s: %s", self.info.code, service_name(error)
                )
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
            joined = await participation.join(info=self.info, token=message.token, group=message.group)
        except participation.JoinRefused as refused:
            await self.send_json({"type": "error", "code": refused.code, "message": refused.message})
            if refused.code in ("room_locked", "room_full"):
                await self.close(code=CLOSE_REFUSED)
            return
        self.participant, self.group = joined.participant, joined.group
        self.last_touch = asyncio.get_running_loop().time()
        self.result = await participation.revealed_result(info=self.info)
        await self.send_json({"type": "welcome", "token": joined.token, **await self.state()})

    async def choose_group(self, group: int) -> None:
        assert self.info is not None and self.participant is not None
        try:
            chosen = await participation.choose_group(info=self.info, participant=self.participant, group=group)
        except participation.JoinRefused as refused:
            raise ProtocolError(refused.code, refused.message) from None
        if not chosen:
            raise ProtocolError("group_already_chosen", "You are already in a group.")
        self.group = group
        await self.send_json({"type": "state", **await self.state()})

    async def state(self) -> dict[str, Any]:
        assert self.info is not None and self.participant is not None
        return await participation.phone_state(
            info=self.info, participant=self.participant, group=self.group, result=self.result, language=self.language
        )

    async def keep_alive(self) -> None:
        # Refresh "connected now" a few times per TTL, not on every message.
        assert self.info is not None and self.participant is not None
        now = asyncio.get_running_loop().time()
        if now - self.last_touch > settings.CONNECTED_TTL / 3:
            self.last_touch = now
            await participation.still_connected(info=self.info, participant=self.participant)

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
    info: SessionInfo | None = None

    async def connect(self) -> None:
        code = self.scope["url_route"]["kwargs"]["code"].upper()
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        info = await aload_session_info(code=code)
        if info is None or not await database_sync_to_async(access.may_watch)(user, info.session):
            # An unknown code and someone else's session look the same.
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.info = info
        self.user_id = user.pk
        self.login = self.scope["session"].session_key
        self.language = language_from_scope(self.scope)
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.screen = query.get("view") == ["screen"]
        self.join_url = join_url(self.scope, code)
        self.qrs: dict[str, str] = {}
        self.pending: asyncio.Task[None] | None = None
        self.last_sent = 0.0
        self.unseen = 0
        self.held = False
        await self.channel_layer.group_add(broadcast.dashboard_group(code), self.channel_name)
        await self.channel_layer.group_add(broadcast.user_group(user.pk), self.channel_name)
        log.info("dashboard connected: session=%s user=%s", code, user.pk)
        await self.send_aggregate()

    async def disconnect(self, close_code: int) -> None:
        if self.info is None:
            return
        info, self.info = self.info, None  # once, whichever way the socket ends
        log.info("dashboard disconnected: session=%s close=%s", info.code, close_code)
        if self.pending is not None:
            self.pending.cancel()
        await self.channel_layer.group_discard(broadcast.dashboard_group(info.code), self.channel_name)
        await self.channel_layer.group_discard(broadcast.user_group(self.user_id), self.channel_name)

    async def access_revoked(self, event: dict[str, Any]) -> None:
        """Logged out here, or rights changed: the feed ends unless the pages would still allow it."""
        if self.info is None:
            return
        logged_out = event.get("login") is not None and event["login"] == self.login
        if logged_out or not await database_sync_to_async(access.still_may_watch)(self.user_id, self.info.session.pk):
            log.info("dashboard access ended: session=%s", self.info.code)
            await self.close(code=CLOSE_FORBIDDEN)

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
            self.warn(
                "aggregate_failed", "could not send an aggregate for session=%s: %s", info.code, service_name(error)
            )
        except Exception:
            # One failed update must not stop the next ones.
            log.exception("could not send an aggregate for session=%s", info.code)

    async def send_aggregate(self) -> None:
        # This session's state as it is now: a disconnect or a control may replace
        # self.info while this runs; the next aggregate picks that up.
        info = self.info
        assert info is not None
        self.last_sent = asyncio.get_running_loop().time()
        snapshot = await live_state.asnapshot(info)
        message = live_view.render_aggregate(
            info, snapshot, language=self.language, screen=self.screen, join_url=self.join_url, qrs=self.qrs
        )
        self.unseen += 1
        await self.send_json(message)
