"""What every websocket of ours shares: JSON frames, close codes, the language, and outages.

A database or Redis that is away closes a socket with 4503 and one warning
line (the page reconnects with backoff), never a traceback per socket.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError
from django.http.cookie import parse_cookie
from django.urls import reverse
from django.utils.translation.trans_real import parse_accept_lang_header
from redis.exceptions import RedisError

from workshop import metrics
from workshop.runtime import runtime

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


def language_from_scope(scope: dict[str, Any]) -> str:
    supported = {code for code, _ in settings.LANGUAGES}
    cookies = scope.get("cookies")
    if cookies is None:  # a phone's socket has no cookie middleware (routing.py): read the header itself
        header = next((v for k, v in scope.get("headers", []) if k == b"cookie"), b"")
        cookies = parse_cookie(header.decode("latin-1"))
    chosen = cookies.get(settings.LANGUAGE_COOKIE_NAME, "")
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
            await self._run(scope, receive, send)
        finally:
            runtime().warnings.forget(getattr(self, "channel_name", ""))

    def warn(self, reason: str, message: str, *args: object) -> None:
        """Log a warning about this socket once per reason: a flooding socket cannot flood the log."""
        logger = logging.getLogger(type(self).__module__)
        socket = getattr(self, "channel_name", "")
        runtime().warnings.warn(logger, socket=socket, reason=reason, message=message, args=args)

    async def _run(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        except Disconnected:
            # The peer went away while we were sending to it: clean up as for any close.
            with contextlib.suppress(*UNAVAILABLE):
                await self.disconnect(CLOSE_ABNORMAL)
        except UNAVAILABLE as error:
            metrics.unavailable(error)
            self.warn("unavailable", "closed %s socket: %s (%s)", self.kind, type(error).__name__, service_name(error))
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
        await self.send(text_data=dumps(content))


def dumps(content: dict[str, Any]) -> str:
    return json.dumps(content, separators=(",", ":"))


async def send_json(send: Any, content: dict[str, Any]) -> None:
    """Send one JSON frame on a plain ASGI websocket."""
    await send({"type": "websocket.send", "text": dumps(content)})


def service_name(error: BaseException) -> str:
    return "database unavailable" if isinstance(error, DatabaseError) else "live store or channel layer unavailable"
