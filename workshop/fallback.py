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
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.translation import get_language
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from workshop import protocol
from workshop.models import Participant
from workshop.participation import find_participant
from workshop.phone import Conversation, open_session
from workshop.relay import LOST
from workshop.runtime import runtime
from workshop.session_info import SessionInfo
from workshop.websocket import CLOSE_NOT_FOUND, CLOSE_TRY_AGAIN

# At most this many messages in one POST: a phone batches what it queued while a request was out.
MAX_MESSAGES = 50
# A comment line this often keeps proxies from timing the stream out and tells a dead phone apart.
KEEPALIVE_SECONDS = 15.0


def _event(message: dict[str, Any]) -> str:
    return "data: " + json.dumps(message, separators=(",", ":")) + "\n\n"


def _body(request: HttpRequest) -> Any:
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nesting deeper than Python goes
        return None


# The token in the body is the credential, not a cookie: nothing here for a forged request to ride on.
@csrf_exempt
@require_POST
async def stream(request: HttpRequest, code: str) -> HttpResponse:
    info, refused = await open_session(code=code, address=request.META.get("REMOTE_ADDR"))
    if info is None:
        return _closed_stream(refused or CLOSE_NOT_FOUND)
    conversation = Conversation(info, language=get_language(), name=f"http:{id(request)}")
    outcome = await conversation.receive(request.body.decode("utf-8", "replace")[: protocol.MAX_FRAME_CHARS + 1])
    if conversation.participant is None or outcome.close is not None:
        # Not welcomed (a refusal, or no valid hello): say why and end, as the socket would.
        return _stream_response(_finish(outcome.replies, outcome.close or CLOSE_NOT_FOUND))
    return _stream_response(_follow(conversation, outcome.replies))


def _closed_stream(close: int) -> StreamingHttpResponse:
    return _stream_response(_finish([], close))


async def _finish(replies: list[dict[str, Any]], close: int) -> AsyncIterator[str]:
    for reply in replies:
        yield _event(reply)
    yield _event({"type": "close", "code": close})


async def _follow(conversation: Conversation, first: list[dict[str, Any]]) -> AsyncIterator[str]:
    """The welcome, then the session's events from this process's relay, until the phone goes or the session closes."""
    assert conversation.participant is not None
    live = runtime()
    code = conversation.info.code
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await live.relay.subscribe(code, events.put_nowait)
    # Keyed by the token's hash, so that this phone's POSTs find their conversation without a query.
    key = Participant.hash_token(first[0]["token"])
    live.http_phones[key] = conversation
    conversation.bucket = _bucket(conversation.participant)
    conversation.name = f"http:{conversation.participant}"
    try:
        for reply in first:
            yield _event(reply)
        while True:
            try:
                event = await asyncio.wait_for(events.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                await conversation.keep_alive()
                yield ": keepalive\n\n"
                continue
            if event is LOST:
                yield _event({"type": "close", "code": CLOSE_TRY_AGAIN})
                return
            outcome = await conversation.session_changed(event)
            for reply in outcome.replies:
                yield _event(reply)
            if outcome.close is not None:
                yield _event({"type": "close", "code": outcome.close})
                return
    finally:
        # The phone went away (Django cancels the stream), or the session closed.
        if live.http_phones.get(key) is conversation:
            del live.http_phones[key]
        live.warnings.forget(conversation.name)
        live.relay.unsubscribe(code, events.put_nowait)
        await conversation.leave()


def _stream_response(events: AsyncIterator[str]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(events, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache, no-store"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


@csrf_exempt
@require_POST
async def send(request: HttpRequest, code: str) -> HttpResponse:
    info, refused = await open_session(code=code, address=request.META.get("REMOTE_ADDR"))
    if info is None:
        return JsonResponse({"close": refused}, status=404 if refused == CLOSE_NOT_FOUND else 429)
    body = _body(request)
    token = body.get("token") if isinstance(body, dict) else None
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(token, str) or not 0 < len(token) <= protocol.MAX_TOKEN_CHARS or not isinstance(messages, list):
        return JsonResponse({"error": 'Send {"token": ..., "messages": [...]}.'}, status=400)
    if len(messages) > MAX_MESSAGES:
        return JsonResponse({"error": f"At most {MAX_MESSAGES} messages per request."}, status=400)
    conversation = await _conversation(info, token)
    if conversation is None:
        hello_first = {"type": "error", "code": "hello_required", "message": "Open the stream first."}
        return JsonResponse({"replies": [hello_first], "close": None})
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
    return JsonResponse({"replies": replies, "close": close})


async def _conversation(info: SessionInfo, token: str) -> Conversation | None:
    """The conversation of the phone with this token: the one its open stream holds in this process,
    or, when its stream is on another process, one carried on from the token (same rate-limit bucket)."""
    open_stream = runtime().http_phones.get(Participant.hash_token(token))
    if open_stream is not None and open_stream.info.code == info.code:
        return open_stream
    found = await find_participant(info=info, token=token)
    if found is None:
        return None
    participant, group = found
    conversation = Conversation(info, language=get_language(), name=f"http:{participant}", bucket=_bucket(participant))
    await conversation.resume(participant=participant, group=group)
    return conversation


def _bucket(participant: int) -> protocol.TokenBucket:
    buckets = runtime().http_buckets
    if len(buckets) > 100_000:
        buckets.clear()  # a full bucket for everyone beats memory without bound
    return buckets.setdefault(participant, protocol.TokenBucket())
