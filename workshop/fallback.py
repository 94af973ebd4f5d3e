"""Phones over plain HTTP, for venues whose network blocks websockets (docs/protocol.md, "Fallback").

Two endpoints per session, the same JSON messages as the socket:

- `POST /p/<CODE>/stream/` with a `hello` as its body answers with a stream of
  server-sent events: the `welcome` (or the refusal), then every `state` the
  socket would get, and a last `close` event with the socket's close code.
  While it is open the phone counts as connected, exactly as with a socket.
- `POST /p/<CODE>/send/` with `{"token": ..., "messages": [...]}` answers with
  the replies (`ack`, `error`, `pong`, `state`) as a JSON list, in order.

The token in the body is the credential (no cookie, so no CSRF exposure);
every message goes through the same `Conversation` as a socket frame: the same
validation, rate limit, join guard and acknowledgement after durable storage.

A hall of phones may hold a stream each for the whole workshop, so an open
stream costs what a socket costs: no thread, no database connection (its few
database calls take the process's shared database thread, as the sockets'
do), a few kilobytes. daphne serves both endpoints through `fallback_http`,
a plain ASGI application in front of Django, because Django's own handler
gives every request a thread of its own until it ends; the views below serve
the same streams to Django's test client. Streams are capped: one per phone
(a new stream of the same phone replaces the old one) and
FALLBACK_STREAMS_PER_ADDRESS per client address and process (429 beyond).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.translation import get_language
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from workshop import guard, metrics, protocol
from workshop.models import Participant
from workshop.participation import find_participant
from workshop.phone import Conversation, open_session
from workshop.relay import LOST
from workshop.runtime import runtime
from workshop.session_info import SessionInfo
from workshop.websocket import CLOSE_NOT_FOUND, CLOSE_REFUSED, CLOSE_TRY_AGAIN, UNAVAILABLE, service_name

log = logging.getLogger(__name__)

# At most this many messages in one POST: a phone batches what it queued while a request was out.
MAX_MESSAGES = 50
# A comment line this often keeps proxies from timing the stream out and tells a dead phone apart.
KEEPALIVE_SECONDS = 15.0
# What a stream's queue may carry besides the relay's events.
GONE = {"type": "gone"}  # the phone went away (its connection closed)
REPLACED = {"type": "replaced"}  # the same phone opened a newer stream
TOO_MANY_STREAMS = {
    "type": "error",
    "code": "too_many_streams",
    "message": "Too many phones on this network follow the session over HTTP; trying again shortly.",
}
REPLACED_ERROR = {
    "type": "error",
    "code": "replaced",
    "message": "This phone follows the session in another tab or window now.",
}


@dataclass(frozen=True)
class Refusal:
    """A stream refused before it starts: an HTTP status and a protocol `error` as its JSON body."""

    status: int
    body: dict[str, Any]


def event(message: dict[str, Any]) -> str:
    return "data: " + json.dumps(message, separators=(",", ":")) + "\n\n"


class Stream:
    """One phone's event stream, from its hello to its end (whichever way it ends)."""

    __slots__ = ("address", "close", "conversation", "ended", "first", "queue", "token_hash")

    def __init__(self, address: str | None) -> None:
        self.address = address  # a keyed hash of the client's address, never the address
        self.conversation: Conversation | None = None
        self.first: list[dict[str, Any]] = []
        self.close: int | None = None  # set when the stream ends after `first`, without following
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.token_hash: str | None = None
        self.ended = False
        if address is not None:
            runtime().http_streams[address] += 1

    async def open(self, *, code: str, client: str | None, body: bytes, language: str) -> None:
        """The join guard, then the hello: welcomed (and following the session), or the refusal to send."""
        try:
            await self._open(code=code, client=client, body=body, language=language)
        except UNAVAILABLE as error:
            # The database or Redis is away: the phone comes back with backoff. One line per reason and
            # minute, not one per phone of a hall that comes back at once.
            runtime().warnings.warn(
                log,
                socket="http:open",
                reason="unavailable",
                message="refused a phone stream: %s",
                args=(service_name(error),),
            )
            self.first, self.close = [], CLOSE_TRY_AGAIN

    async def _open(self, *, code: str, client: str | None, body: bytes, language: str) -> None:
        info, refused = await open_session(code=code, address=client)
        if info is None:
            self.close = refused or CLOSE_NOT_FOUND
            return
        conversation = Conversation(info, language=language, name=f"http:{id(self)}")
        outcome = await conversation.receive(body.decode("utf-8", "replace")[: protocol.MAX_FRAME_CHARS + 1])
        self.first = outcome.replies
        if conversation.participant is None or outcome.close is not None:
            # Not welcomed (a refusal, or no valid hello): say why and end, as the socket would.
            self.close = outcome.close or CLOSE_NOT_FOUND
            return
        self.conversation = conversation  # from here on, end() lets go of it
        live = runtime()
        # Keyed by the token's hash, so that this phone's POSTs find their stream without a query.
        self.token_hash = Participant.hash_token(outcome.replies[0]["token"])
        older = live.http_phones.get(self.token_hash)
        if older is not None:
            older.queue.put_nowait(REPLACED)  # one stream per phone: the newest wins
        live.http_phones[self.token_hash] = self
        conversation.bucket = _bucket(conversation.participant)
        conversation.name = f"http:{conversation.participant}"
        await live.relay.subscribe(info.code, self.queue.put_nowait)
        metrics.phone_connected("http")

    async def events(self) -> AsyncIterator[str]:
        """The welcome, then the session's events from this process's relay, until the phone goes,
        a newer stream of it takes over, or the session closes. Ends with the `close` event."""
        for reply in self.first:
            yield event(reply)
        conversation = self.conversation
        if conversation is None or self.close is not None:
            yield event({"type": "close", "code": self.close or CLOSE_NOT_FOUND})
            return
        while True:
            try:
                async with asyncio.timeout(KEEPALIVE_SECONDS):
                    item = await self.queue.get()
                if item is GONE:
                    return
                if item is REPLACED:
                    yield event(REPLACED_ERROR)
                    yield event({"type": "close", "code": CLOSE_REFUSED})
                    return
                if item is LOST:
                    yield event({"type": "close", "code": CLOSE_TRY_AGAIN})
                    return
                outcome = await conversation.session_changed(item)
            except TimeoutError:
                await conversation.keep_alive()
                yield ": keepalive\n\n"
                continue
            except UNAVAILABLE as error:
                # The database or Redis is away: one warning, and the phone comes back with backoff.
                conversation.warn("unavailable", "closed a phone stream: %s", service_name(error))
                yield event({"type": "close", "code": CLOSE_TRY_AGAIN})
                return
            for reply in outcome.replies:
                yield event(reply)
            if outcome.close is not None:
                yield event({"type": "close", "code": outcome.close})
                return

    def gone(self) -> None:
        """The phone's connection closed: the stream ends at its next turn."""
        self.queue.put_nowait(GONE)

    async def end(self) -> None:
        """Let go of everything the stream held; once, however it ended."""
        if self.ended:
            return
        self.ended = True
        live = runtime()
        if self.address is not None:
            live.http_streams[self.address] -= 1
            if live.http_streams[self.address] <= 0:
                del live.http_streams[self.address]
        conversation = self.conversation
        if conversation is None:
            return
        metrics.phone_left("http")
        if live.http_phones.get(self.token_hash or "") is self:
            del live.http_phones[self.token_hash or ""]
        live.warnings.forget(conversation.name)
        live.relay.unsubscribe(conversation.info.code, self.queue.put_nowait)
        await conversation.leave()


async def open_stream(*, code: str, client: str | None, body: bytes, language: str) -> Stream | Refusal:
    """A new stream for the phone at `client` (its address, from the trusted-proxy logic), or the refusal."""
    address = guard.cache_key(client) if client else None
    if address is not None and runtime().http_streams[address] >= settings.FALLBACK_STREAMS_PER_ADDRESS:
        return Refusal(429, TOO_MANY_STREAMS)
    stream = Stream(address)
    try:
        await stream.open(code=code, client=client, body=body, language=language)
    finally:
        if stream.conversation is None or stream.close is not None:
            # It only says why it ends: nothing to hold (and a store that is away cannot be told more).
            with contextlib.suppress(*UNAVAILABLE):
                await stream.end()
    return stream


async def answer(
    *, code: str, client: str | None, body: bytes, language: Callable[[], str]
) -> tuple[int, dict[str, Any]]:
    """A phone's POSTed messages: the HTTP status and the JSON answer. `language` is asked only when the
    phone's conversation must be carried on here (its stream is on another process): rarely, per POST."""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nesting deeper than Python goes
        parsed = None
    token = parsed.get("token") if isinstance(parsed, dict) else None
    messages = parsed.get("messages") if isinstance(parsed, dict) else None
    well_formed = isinstance(token, str) and 0 < len(token) <= protocol.MAX_TOKEN_CHARS and isinstance(messages, list)
    # The phone's own stream in this process: its conversation knows the session, kept current by the relay.
    # No lookup at all, so that a hall's POSTs (ten a second per dragging phone) never wait for a read.
    conversation = _held(code, token) if well_formed else None
    if conversation is None:
        info, refused = await open_session(code=code, address=client)
        if info is None:
            return (404 if refused == CLOSE_NOT_FOUND else 429), {"close": refused}
    if not well_formed:
        return 400, {"error": 'Send {"token": ..., "messages": [...]}.'}
    assert isinstance(token, str) and isinstance(messages, list)
    if len(messages) > MAX_MESSAGES:
        return 400, {"error": f"At most {MAX_MESSAGES} messages per request."}
    if conversation is None:
        conversation = await _carried_on(info, token, language())
    if conversation is None:
        hello_first = {"type": "error", "code": "hello_required", "message": "Open the stream first."}
        return 200, {"replies": [hello_first], "close": None}
    replies: list[dict[str, Any]] = []
    close = None
    for message in messages:
        if isinstance(message, dict) and message.get("type") == "hello":
            replies.append({"type": "error", "code": "already_welcomed", "message": "Say hello on the stream."})
            continue
        outcome = await conversation.receive(json.dumps(message))
        replies.extend(outcome.replies)
        if outcome.close is not None:
            close = outcome.close
            break
    return 200, {"replies": replies, "close": close}


def _held(code: str, token: str) -> Conversation | None:
    """The conversation of the phone with this token that its open stream holds in this process."""
    held = runtime().http_phones.get(Participant.hash_token(token))
    if held is not None and held.conversation is not None and held.conversation.info.code == code:
        return held.conversation
    return None


async def _carried_on(info: SessionInfo, token: str, language: str) -> Conversation | None:
    """When the phone's stream is on another process: its conversation carried on from the token (same
    rate-limit bucket), or None for a token of no phone of this session."""
    found = await find_participant(info=info, token=token)
    if found is None:
        return None
    participant, group = found
    conversation = Conversation(info, language=language, name=f"http:{participant}", bucket=_bucket(participant))
    await conversation.resume(participant=participant, group=group)
    return conversation


def _bucket(participant: int) -> protocol.TokenBucket:
    buckets = runtime().http_buckets
    if len(buckets) > 100_000:
        buckets.clear()  # a full bucket for everyone beats memory without bound
    return buckets.setdefault(participant, protocol.TokenBucket())


# Django's views of the same endpoints: what Django's test client reaches (daphne's requests go to
# fallback_http first). The token in the body is the credential, not a cookie: no CSRF to ride on.


@csrf_exempt
@require_POST
async def stream(request: HttpRequest, code: str) -> HttpResponse:
    opened = await open_stream(
        code=code, client=request.META.get("REMOTE_ADDR"), body=request.body, language=get_language()
    )
    if isinstance(opened, Refusal):
        return JsonResponse(opened.body, status=opened.status)
    response = StreamingHttpResponse(_until_closed(opened), content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache, no-store"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


async def _until_closed(stream: Stream) -> AsyncIterator[str]:
    try:
        async for chunk in stream.events():
            yield chunk
    finally:
        # The phone went away (Django cancels the stream), or the stream ended.
        await stream.end()


@csrf_exempt
@require_POST
async def send(request: HttpRequest, code: str) -> HttpResponse:
    status, answered = await answer(
        code=code, client=request.META.get("REMOTE_ADDR"), body=request.body, language=get_language
    )
    return JsonResponse(answered, status=status)
