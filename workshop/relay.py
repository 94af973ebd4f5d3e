"""This process's phones hear of session changes through one channel-layer channel, not one each.

A facilitator's change is one `group_send` to the session's phones group
(broadcast.py). Every process that holds phones of that session has its one
relay channel in that group, and hands the event to its own phones: websocket
phones (phone_socket.py) and HTTP streams (fallback.py) alike. At a congress that
is one channel-layer message per process instead of one per phone, and a phone
costs no channel, no group membership and no second reader of its own.

When the relay loses the channel layer (Redis went away) it cannot know what
it missed: every phone of this process then gets a `relay.lost` event and
closes with 4503, so that it reconnects and is welcomed with the current state,
as a phone whose own channel failed always did.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from channels.layers import get_channel_layer

from workshop import broadcast

log = logging.getLogger(__name__)

Listener = Callable[[dict[str, Any]], None]

LOST = {"type": "relay.lost"}
# channels-redis forgets group members after a day; a process that keeps taking phones renews its membership.
RENEW_AFTER = 3600.0


class Relay:
    def __init__(self) -> None:
        self._listeners: dict[str, set[Listener]] = {}
        self._joined: dict[str, float] = {}  # session code -> loop time this channel joined its phones group
        self._channel: str | None = None
        self._task: asyncio.Task[None] | None = None
        # The session as this process's phones know it, shared by every phone that joins while it is fresh,
        # kept current from the events (session_info.ashared_session_info): code -> (SessionInfo, loaded at).
        self.infos: dict[str, tuple[Any, float]] = {}
        self.seen: Counter[str] = Counter()  # events heard per session code

    async def subscribe(self, code: str, listener: Listener) -> None:
        """From now on `listener` gets every event sent to the phones of session `code`, in order."""
        await self.watch(code)
        self._listeners.setdefault(code, set()).add(listener)

    async def watch(self, code: str) -> None:
        """From now on this process hears the events of session `code`."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            await self._start(loop)
        assert self._channel is not None
        if loop.time() - self._joined.get(code, -RENEW_AFTER) >= RENEW_AFTER:
            self._joined[code] = loop.time()
            await get_channel_layer().group_add(broadcast.phones_group(code), self._channel)

    def watching(self, code: str) -> bool:
        task = self._task
        return code in self._joined and task is not None and not task.done()

    def unsubscribe(self, code: str, listener: Listener) -> None:
        # The channel stays in the group: a session's later events cost a process without its phones one
        # ignored message, where leaving and rejoining would race a phone that comes straight back.
        listeners = self._listeners.get(code)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self._listeners[code]
                self.infos.pop(code, None)

    def stop(self) -> None:
        """Stop reading (a runtime being replaced); nothing is left waiting on a loop."""
        task, self._task = self._task, None
        if task is not None and not task.done() and not task.get_loop().is_closed():
            task.get_loop().call_soon_threadsafe(task.cancel)

    async def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        # The layer's own prefix: channels-redis reads every channel of a process through one shared reader,
        # which serves only names made alike (another prefix would starve the dashboards' channels).
        channel = await get_channel_layer().new_channel()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:  # still: one reader
            self._channel = channel
            self._joined.clear()
            self._task = loop.create_task(self._read(channel))

    async def _read(self, channel: str) -> None:
        layer = get_channel_layer()
        while True:
            try:
                event = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("phone relay lost the channel layer (%s); this process's phones reconnect", error)
                self._lose()
                return
            code = event.get("code", "")
            self.seen[code] += 1
            shared = self.infos.get(code)
            if shared is not None and event.get("type") == "session.changed":
                # One copy of the new state for every phone of this process, not one each.
                info = shared[0].with_state(event["state"])
                self.infos[code] = (info, shared[1])
                event = {**event, "info": info}
            for listener in list(self._listeners.get(code, ())):
                listener(event)

    def _lose(self) -> None:
        listeners, self._listeners = self._listeners, {}
        self._joined.clear()
        self.infos.clear()
        self._task = None
        for group in listeners.values():
            for listener in group:
                listener(LOST)
