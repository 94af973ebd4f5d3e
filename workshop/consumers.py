"""Websocket consumers: parse, validate, call a service, send. See docs/protocol.md."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header

from workshop import aggregates, live, protocol, services
from workshop.protocol import ProtocolError

log = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404

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


class JsonSocket(AsyncWebsocketConsumer):
    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content, separators=(",", ":")))


class ParticipantConsumer(JsonSocket):
    info: services.SessionInfo | None = None
    participant: int | None = None

    async def connect(self) -> None:
        code = self.scope["url_route"]["kwargs"]["code"].upper()
        self.info = await services.aload_session_info(code=code)
        await self.accept()
        if self.info is None or not self.info.session.is_open:
            self.info = None
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.language = language_from_scope(self.scope)
        self.last_touch = 0.0
        await self.channel_layer.group_add(services.phones_group(code), self.channel_name)

    async def disconnect(self, close_code: int) -> None:
        if self.info is None:
            return
        await self.channel_layer.group_discard(services.phones_group(self.info.code), self.channel_name)
        if self.participant is not None:
            key = (self.info.code, self.participant)
            _local_sockets[key] -= 1
            if _local_sockets[key] <= 0:
                del _local_sockets[key]
                await services.leave(info=self.info, participant=self.participant)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.info is None:
            return
        try:
            message = protocol.parse(text_data, sliders=self.info.slider_keys)
            await self.handle(message)
        except ProtocolError as error:
            await self.send_json(error.as_reply())

    async def handle(self, message: protocol.Message) -> None:
        assert self.info is not None
        if isinstance(message, protocol.Hello):
            await self.hello(message)
            return
        if self.participant is None:
            raise ProtocolError(
                "hello_required",
                "Send hello before anything else.",
                getattr(message, "seq", None),
            )
        await self.keep_alive()
        if isinstance(message, protocol.Ping):
            await self.send_json({"type": "pong"})
            return
        if not self.info.session.is_open:
            raise ProtocolError(
                "session_closed",
                "This session has closed.",
                getattr(message, "seq", None),
            )
        if isinstance(message, protocol.Move):
            services.record_move(
                info=self.info,
                participant=self.participant,
                slider=message.slider,
                value=message.value,
            )
        elif isinstance(message, protocol.Set):
            try:
                await services.record_set(
                    info=self.info,
                    participant=self.participant,
                    slider=message.slider,
                    value=message.value,
                )
            except Exception:
                log.exception("could not store a position in session=%s", self.info.code)
                raise ProtocolError(
                    "not_stored",
                    "Your position was not saved; it is sent again automatically.",
                    message.seq,
                ) from None
            await self.send_json({"type": "ack", "seq": message.seq})

    async def hello(self, message: protocol.Hello) -> None:
        assert self.info is not None
        if self.participant is not None:
            raise ProtocolError("already_welcomed", "This connection has already said hello.")
        participant, token, positions = await services.join(info=self.info, token=message.token)
        self.participant = participant
        _local_sockets[(self.info.code, participant)] += 1
        self.last_touch = asyncio.get_running_loop().time()
        session = self.info.session
        with translation.override(self.language):
            sliders = [
                {
                    "key": s.key,
                    "label": s.label,
                    "left": s.left,
                    "right": s.right,
                    "open": session.is_open,
                }
                for s in self.info.sliders
            ]
        await self.send_json(
            {
                "type": "welcome",
                "token": token,
                "session": {
                    "code": session.code,
                    "title": session.title,
                    "status": session.status,
                },
                "sliders": sliders,
                "positions": positions,
            }
        )

    async def keep_alive(self) -> None:
        # Refresh "connected now" a few times per TTL, not on every message.
        assert self.info is not None and self.participant is not None
        now = asyncio.get_running_loop().time()
        if now - self.last_touch > settings.CONNECTED_TTL / 3:
            self.last_touch = now
            await services.still_connected(info=self.info, participant=self.participant)

    async def session_changed(self, event: dict[str, Any]) -> None:
        assert self.info is not None
        info = await services.aload_session_info(code=self.info.code)
        if info is None or not info.session.is_open:
            session = self.info.session
            await self.send_json(
                {
                    "type": "session",
                    "session": {
                        "code": session.code,
                        "title": session.title,
                        "status": "closed",
                    },
                }
            )
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.info = info


class DashboardConsumer(JsonSocket):
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
        self.pending: asyncio.Task[None] | None = None
        self.last_sent = 0.0
        await self.channel_layer.group_add(services.dashboard_group(code), self.channel_name)
        await services.ensure_live(info=info)
        await self.send_aggregate()

    async def disconnect(self, close_code: int) -> None:
        if self.info is None:
            return
        if self.pending is not None:
            self.pending.cancel()
        await self.channel_layer.group_discard(services.dashboard_group(self.info.code), self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # Dashboards only listen; say so rather than ignore silently.
        await self.send_json(
            {
                "type": "error",
                "code": "read_only",
                "message": "The dashboard socket does not take messages.",
            }
        )

    async def live_changed(self, event: dict[str, Any]) -> None:
        self.schedule()

    async def session_changed(self, event: dict[str, Any]) -> None:
        assert self.info is not None
        self.info = await services.aload_session_info(code=self.info.code) or self.info
        self.schedule()

    def schedule(self) -> None:
        """Coalesce: at most one aggregate per DASHBOARD_TICK, however many changes arrive."""
        if self.info is None or self.pending is not None:
            return
        delay = max(
            0.0,
            self.last_sent + settings.DASHBOARD_TICK - asyncio.get_running_loop().time(),
        )
        self.pending = asyncio.create_task(self._send_after(delay))

    async def _send_after(self, delay: float) -> None:
        await asyncio.sleep(delay)  # the throttle window, not synchronisation
        self.pending = None
        await self.send_aggregate()

    async def send_aggregate(self) -> None:
        assert self.info is not None
        self.last_sent = asyncio.get_running_loop().time()
        snapshot = await live.get_store().snapshot(self.info.code, self.info.slider_keys)
        result = aggregates.compute(self.info, snapshot)
        with translation.override(self.language):
            message = aggregates.aggregate_message(self.info, result)
            message["html"] = render_to_string(
                "workshop/dashboard.html#live",
                aggregates.dashboard_context(self.info, result),
            )
        await self.send_json(message)
