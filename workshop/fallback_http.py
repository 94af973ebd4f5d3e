"""The HTTP fallback's two endpoints as a plain ASGI application in front of Django (see fallback.py).

Django's ASGI handler runs every request in a thread-sensitive context of its
own: its middleware, and any database call it makes, go to a thread that lives
as long as the request, with a database connection of its own. For a page that
is a moment; for an event stream it is the whole workshop, so 60 streams once
took 60 threads and 60 PostgreSQL connections and ran PostgreSQL out. Here a
stream is a coroutine like a phone's socket (phone_socket.py): its database
calls go to the process's one shared database thread, and it holds nothing
else while it waits. Django still serves every other path, and its URLconf
names these two (`phone_stream`, `phone_send`), so that the paths and their
`code` converter are written once.

What Django's middleware would add that these answers need is done here: POST
only (405), the host checked against ALLOWED_HOSTS (400), HTTPS when
SECURE_SSL_REDIRECT (301), the language from the cookie or Accept-Language,
and the security headers. The client's address is the one TrustedProxyMiddleware
resolved (config/asgi.py wraps this); it only counts streams, as a keyed hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
from typing import Any

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.urls import reverse

from config.converters import JoinCodeConverter
from workshop import fallback
from workshop.models import CODE_ALPHABET, CODE_LENGTH
from workshop.runtime import runtime
from workshop.websocket import CLOSE_TRY_AGAIN, UNAVAILABLE, language_from_scope, service_name

log = logging.getLogger(__name__)

ROUTES = {"phone_stream": "stream", "phone_send": "send"}  # the URLconf's names (config/urls.py)
HEADERS = [
    (b"cache-control", b"no-cache, no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
STREAM_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"x-accel-buffering", b"no"),  # nginx: pass each event on at once
    *HEADERS,
]


class FallbackRouter:
    """`/p/<CODE>/stream/` and `/p/<CODE>/send/` here; every other request to Django."""

    def __init__(self, django: Any) -> None:
        self.django = django

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        route = _route(scope)
        if route is None:
            return await self.django(scope, receive, send)
        name, code = route
        refused = _refusal(scope)
        if refused is not None:
            status, headers = refused
            await _answer(send, status, None, headers)
            return
        body = await _body(receive)
        if body is None:
            return  # the phone went away before its request was in
        client = (scope.get("client") or [None])[0]
        if name == "send":
            try:
                status, answered = await fallback.answer(
                    code=code, client=client, body=body, language=functools.partial(language_from_scope, scope)
                )
            except UNAVAILABLE as error:
                # The database or Redis is away: the page starts over with backoff, as after a 4503.
                # One line per reason and minute (runtime's Warnings), not one per POST of a hall.
                runtime().warnings.warn(
                    log,
                    socket="http:send",
                    reason="unavailable",
                    message="refused a phone's messages: %s",
                    args=(service_name(error),),
                )
                status, answered = 503, {"close": CLOSE_TRY_AGAIN}
            await _answer(send, status, answered)
            return
        await serve_stream(send, receive, code=code, client=client, body=body, language=language_from_scope(scope))


@functools.cache
def _paths() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """The URLconf's two paths as patterns, its `code` converter included (it matches either case)."""
    placeholder = CODE_ALPHABET[0] * CODE_LENGTH
    found = []
    for name, kind in ROUTES.items():
        head, tail = reverse(name, kwargs={"code": placeholder}).split(placeholder)
        found.append((kind, re.compile(f"{re.escape(head)}({JoinCodeConverter.regex}){re.escape(tail)}")))
    return tuple(found)


def _route(scope: dict[str, Any]) -> tuple[str, str] | None:
    # Patterns rather than resolve(): a third of a POST's own cost went to walking the URLconf.
    path = scope.get("path", "")
    if scope["type"] != "http" or not path.startswith("/p/"):
        return None
    for kind, pattern in _paths():
        match = pattern.fullmatch(path)
        if match is not None:
            return kind, match[1].upper()
    return None


def _header(scope: dict[str, Any], name: bytes) -> str:
    return next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == name), "")


def _refusal(scope: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]]] | None:
    """What Django's middleware would answer instead of the view: 405, 400 or 301."""
    if scope.get("method") != "POST":
        return 405, [(b"allow", b"POST")]
    host = _header(scope, b"host")
    # As HttpRequest.get_host: with DEBUG and no ALLOWED_HOSTS, localhost's names.
    allowed = settings.ALLOWED_HOSTS or ([".localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    if not _host_allowed(host, tuple(allowed)):
        return 400, []
    if settings.SECURE_SSL_REDIRECT and scope.get("scheme") != "https":
        return 301, [(b"location", f"https://{host}{scope['path']}".encode("latin-1"))]
    return None


@functools.lru_cache(maxsize=64)
def _host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)


async def _body(receive: Any) -> bytes | None:
    """The request body (its size is limited in front of this by config.limits), or None on a disconnect."""
    parts = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


async def _answer(
    send: Any, status: int, content: dict[str, Any] | None, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = b"" if content is None else json.dumps(content, separators=(",", ":")).encode()
    start = [*HEADERS, *(headers or [])]
    if content is not None:
        start.append((b"content-type", b"application/json"))
    start.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": body})


async def serve_stream(send: Any, receive: Any, *, code: str, client: str | None, body: bytes, language: str) -> None:
    """One phone's event stream over ASGI, until it ends or the phone goes away."""
    opened = await fallback.open_stream(code=code, client=client, body=body, language=language)
    if isinstance(opened, fallback.Refusal):
        await _answer(send, opened.status, opened.body, [(b"retry-after", b"10")])
        return
    watcher = asyncio.get_running_loop().create_task(_until_disconnect(receive, opened))
    try:
        await send({"type": "http.response.start", "status": 200, "headers": STREAM_HEADERS})
        async for chunk in opened.events():
            await send({"type": "http.response.body", "body": chunk.encode(), "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    except Exception:
        # A bug, never the phone's doing: the stream ends (the phone reconnects), one traceback in the log.
        log.exception("a phone's event stream failed")
    finally:
        watcher.cancel()
        with contextlib.suppress(*UNAVAILABLE):
            await opened.end()


async def _until_disconnect(receive: Any, stream: fallback.Stream) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    stream.gone()
