"""The phone's websocket: a plain ASGI application around a Conversation (see docs/protocol.md).

The hottest path of the product: at a congress every phone sends ten moves a
second. A Channels consumer would spend more on its own dispatch (a task per
channel it reads, asyncio.wait per message) than the move costs; this socket
reads only its own frames, in order, and hears of session changes from the
process's relay (relay.py). Dashboards, a few per session, stay consumers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from autobahn.exception import Disconnected

from workshop import metrics
from workshop.phone import NOTHING, Conversation, Outcome, open_session
from workshop.relay import LOST
from workshop.runtime import runtime
from workshop.websocket import (
    CLOSE_ABNORMAL,
    CLOSE_NOT_FOUND,
    CLOSE_TRY_AGAIN,
    UNAVAILABLE,
    language_from_scope,
    send_json,
    service_name,
)

log = logging.getLogger(__name__)

Send = Any


async def phone_socket(scope: dict[str, Any], receive: Any, send: Send) -> None:
    """ASGI: one phone's websocket, from its connect to its disconnect."""
    if (await receive())["type"] != "websocket.connect":
        return
    socket = PhoneSocket(send)
    close_code = CLOSE_ABNORMAL
    try:
        await socket.open(scope)
        while True:
            message = await receive()
            if message["type"] == "websocket.receive":
                await socket.receive(message.get("text"), message.get("bytes"))
            elif message["type"] == "websocket.disconnect":
                close_code = message.get("code", CLOSE_ABNORMAL)
                return
    except Disconnected:
        pass  # the peer went away while we were sending to it: clean up as for any close
    except UNAVAILABLE as error:
        await socket.unavailable(error)
    finally:
        # Whichever way it ends (a bug included, which daphne then logs): the phone is no longer here.
        with contextlib.suppress(*UNAVAILABLE):
            await socket.end(close_code)
        socket.forget()


class PhoneSocket:
    def __init__(self, send: Send) -> None:
        self.send = send
        self.name = f"phone.{id(self)}"  # for the log limit; its warnings are forgotten when it ends
        self.conversation: Conversation | None = None
        # Session events wait here in order; one drain task at a time delivers them.
        self.events: list[dict[str, Any]] = []
        self.draining: asyncio.Task[None] | None = None

    async def open(self, scope: dict[str, Any]) -> None:
        code = scope["url_route"]["kwargs"]["code"]  # upper-cased by the URL converter
        address = (scope.get("client") or [None])[0]
        await self.send({"type": "websocket.accept"})
        info, refused = await open_session(code=code, address=address)
        if info is None:
            await self.close(refused or CLOSE_NOT_FOUND)
            return
        self.conversation = Conversation(info, language=language_from_scope(scope), name=self.name)
        await runtime().relay.subscribe(code, self.deliver)
        metrics.phone_connected("socket")
        log.info("phone connected: session=%s", code)

    async def receive(self, text: str | None, data: bytes | None) -> None:
        if self.conversation is not None:
            outcome = await self.conversation.receive(text if text is not None else data)
            if outcome is not NOTHING:
                await self.answer(outcome)

    async def answer(self, outcome: Outcome) -> None:
        for reply in outcome.replies:
            await send_json(self.send, reply)
        if outcome.close is not None:
            await self.close(outcome.close)

    async def close(self, code: int) -> None:
        # Frames that arrive after the close frame are not read; the disconnect that follows ends the socket.
        conversation, self.conversation = self.conversation, None
        try:
            await self.send({"type": "websocket.close", "code": code})
        finally:
            if conversation is not None:
                await self._leave(conversation, code)

    async def end(self, close_code: int) -> None:
        """The socket is gone (closed by the phone, or dropped): once, whichever way it ends."""
        conversation, self.conversation = self.conversation, None
        if conversation is not None:
            await self._leave(conversation, close_code)

    async def _leave(self, conversation: Conversation, close_code: int) -> None:
        log.info("phone disconnected: session=%s close=%s", conversation.info.code, close_code)
        metrics.phone_left("socket")
        runtime().relay.unsubscribe(conversation.info.code, self.deliver)
        await conversation.leave()

    def deliver(self, event: dict[str, Any]) -> None:
        """From the relay: a session event for this phone, handled after the ones before it."""
        self.events.append(event)
        if self.draining is None:
            self.draining = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self.events and self.conversation is not None:
                event = self.events.pop(0)
                if event is LOST:
                    await self.close(CLOSE_TRY_AGAIN)
                else:
                    await self.answer(await self.conversation.session_changed(event))
        except Disconnected:
            pass  # the phone went away meanwhile; its disconnect follows
        except UNAVAILABLE as error:
            await self.unavailable(error)
        except Exception:
            # One failed update must not stop the socket; the next event brings the state again.
            log.exception("could not send a phone its new state")
        finally:
            self.events.clear()
            self.draining = None

    async def unavailable(self, error: BaseException) -> None:
        """The database or Redis is away: one warning, and the phone reconnects with backoff."""
        metrics.unavailable(error)
        self.warn("unavailable", "closed a phone socket: %s (%s)", type(error).__name__, service_name(error))
        conversation, self.conversation = self.conversation, None
        with contextlib.suppress(Disconnected):
            await self.send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN})
        if conversation is not None:
            with contextlib.suppress(*UNAVAILABLE):
                await self._leave(conversation, CLOSE_TRY_AGAIN)

    def warn(self, reason: str, message: str, *args: object) -> None:
        runtime().warnings.warn(log, socket=self.name, reason=reason, message=message, args=args)

    def forget(self) -> None:
        runtime().warnings.forget(self.name)
