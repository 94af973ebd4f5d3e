"""Websocket consumers: parse, validate, call a service, send. See docs/protocol.md."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs

from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY
from django.template.loader import render_to_string
from django.utils import translation

from workshop import access, broadcast, control_panel, live_state, live_view, metrics, protocol, timers
from workshop.models import Session
from workshop.protocol import ProtocolError
from workshop.session_info import SessionInfo, aload_session_info
from workshop.websocket import (
    CLOSE_FORBIDDEN,
    UNAVAILABLE,
    JsonSocket,
    join_url,
    language_from_scope,
    service_name,
)

log = logging.getLogger(__name__)

# Aggregates a dashboard may have unconfirmed: past this the server waits for a
# `seen` and then sends the newest, so a stalled projector costs two messages of
# memory, not a growing backlog, and gets the current snapshot when it resumes.
UNSEEN_LIMIT = 2


def _render_controls(session_id: int, join_url: str, language: str) -> str | None:
    session = Session.objects.select_related("exercise").filter(pk=session_id).first()
    if session is None:
        return None
    with translation.override(language):
        return render_to_string(control_panel.CONTROLS, control_panel.controls_context(session, join_url=join_url))


_arender_controls = database_sync_to_async(_render_controls)


class DashboardConsumer(JsonSocket):
    kind = "a dashboard"
    info: SessionInfo | None = None

    async def connect(self) -> None:
        code = self.scope["url_route"]["kwargs"]["code"]  # upper-cased by the URL converter
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        # An unknown code and someone else's session look the same, and take the same one query.
        if await database_sync_to_async(access.watchable_session_id)(user, code) is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        info = await aload_session_info(code=code)
        if info is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.info = info
        self.user_id = user.pk
        self.login = self.scope["session"].session_key
        # The hash this login was made with: a new password ends the feed (access.still_may_watch).
        self.auth_hash = await database_sync_to_async(self.scope["session"].get)(HASH_SESSION_KEY)
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
        metrics.dashboard_connected()
        log.info("dashboard connected: session=%s user=%s", code, user.pk)
        timers.arm(info)
        await self.send_aggregate()

    async def disconnect(self, close_code: int) -> None:
        if self.info is None:
            return
        info, self.info = self.info, None  # once, whichever way the socket ends
        metrics.dashboard_left()
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
        allowed = database_sync_to_async(access.still_may_watch)
        if logged_out or not await allowed(self.user_id, self.info.session.pk, self.auth_hash or ""):
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
        timers.arm(self.info)
        self.schedule()
        if not self.screen:
            # The controls follow the session whoever changed it: another tab, the timer, a closing command.
            html = await _arender_controls(self.info.session.pk, self.join_url, self.language)
            if html is not None:
                await self.send_json({"type": "controls", "html": html})

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
        since = metrics.now()  # the change that scheduled this update reached the process
        await asyncio.sleep(delay)  # the throttle window, not synchronisation
        self.pending = None
        info = self.info
        if info is None:
            return  # disconnected meanwhile
        try:
            await self.send_aggregate()
            metrics.dashboard_updated(since)
        except Disconnected:
            pass  # the dashboard closed meanwhile; its disconnect follows
        except UNAVAILABLE as error:
            metrics.unavailable(error)
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
