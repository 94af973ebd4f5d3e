"""Request bodies over MAX_REQUEST_BYTES are answered 413 without being read.

No page of this app takes more than a few kilobytes; a client that declares or
streams more only wants to tie up memory, a disk or a worker. Two layers:

- `BodyLimitMiddleware`, ASGI, for any server: a declared Content-Length over the
  limit is refused before the first body message is received, and a chunked body
  is read only until its running total passes the limit.
- `install_in_daphne`: daphne (Twisted) buffers the whole body before it calls the
  application at all, so the ASGI layer alone would still let 300 MiB in. This
  hooks daphne's request object to refuse as soon as the headers declare too much,
  or as soon as chunks add up to too much, and drop the connection.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

MESSAGE = b"Het verzoek is te groot. / The request is too large.\n"


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(MESSAGE)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": MESSAGE})


class BodyLimitMiddleware:
    def __init__(self, application: Any, limit: int | None = None) -> None:
        self.application = application
        self._limit = limit

    @property
    def limit(self) -> int:
        return self._limit if self._limit is not None else settings.MAX_REQUEST_BYTES

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "http":
            return await self.application(scope, receive, send)
        limit = self.limit
        declared = _declared_length(scope.get("headers", []))
        if declared is not None and declared > limit:
            return await _too_large(send)
        # Read the body here, at most `limit` bytes of it, so that the view never starts on
        # a body that turns out too large halfway; then hand the messages on unchanged.
        messages: list[dict[str, Any]] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                messages.append(message)  # a disconnect: let the application see it
                break
            total += len(message.get("body", b""))
            if total > limit:
                return await _too_large(send)
            messages.append(message)
            if not message.get("more_body", False):
                break

        async def replay() -> dict[str, Any]:
            return messages.pop(0) if messages else await receive()

        return await self.application(scope, replay, send)


RESPONSE_413 = (
    b"HTTP/1.1 413 Payload Too Large\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: " + str(len(MESSAGE)).encode() + b"\r\n"
    b"Connection: close\r\n\r\n" + MESSAGE
)


def install_in_daphne(limit: int) -> None:
    """Make daphne's request object refuse bodies over `limit` while they arrive."""
    try:
        from daphne.http_protocol import WebRequest
    except ImportError:  # served by something else: the ASGI middleware is the limit
        return
    WebRequest.body_limit = limit
    if getattr(WebRequest, "_body_limit_installed", False):
        return
    got_length = WebRequest.gotLength
    handle_chunk = WebRequest.handleContentChunk
    request_received = WebRequest.requestReceived

    def refuse(request: Any) -> None:
        request.body_refused = True
        transport = request.channel.transport
        transport.write(RESPONSE_413)
        # Stops reading at once; the response is flushed before the socket closes.
        transport.loseConnection()

    def gotLength(self: Any, length: int | None) -> None:  # Twisted's names
        self.body_seen = 0
        self.body_refused = False
        if length is not None and length > self.body_limit:
            got_length(self, 0)  # an empty buffer rather than a 300 MiB temporary file
            refuse(self)
            return
        got_length(self, length)

    def handleContentChunk(self: Any, data: bytes) -> None:
        if getattr(self, "body_refused", False):
            return
        self.body_seen = getattr(self, "body_seen", 0) + len(data)
        if self.body_seen > self.body_limit:
            refuse(self)
            return
        handle_chunk(self, data)

    def requestReceived(self: Any, command: bytes, path: bytes, version: bytes) -> None:
        if getattr(self, "body_refused", False):
            return  # already answered 413; never hand a refused request to the application
        request_received(self, command, path, version)

    WebRequest.gotLength = gotLength
    WebRequest.handleContentChunk = handleContentChunk
    WebRequest.requestReceived = requestReceived
    WebRequest._body_limit_installed = True
