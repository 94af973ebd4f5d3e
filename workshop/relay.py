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

The relay also keeps the one cache of sessions that this process's phones share
(`SharedSessions`): it is only as good as the events the relay hears.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from channels.layers import get_channel_layer

from workshop import broadcast

if TYPE_CHECKING:  # session_info needs the runtime, which needs this module
    from workshop.session_info import SessionInfo

log = logging.getLogger(__name__)

Listener = Callable[[dict[str, Any]], None]

LOST = {"type": "relay.lost"}
# channels-redis forgets group members after a day; a process that keeps taking phones renews its membership.
RENEW_AFTER = 3600.0
# How long a phone may join on the session as this process last read it (kept current from the
# session's events meanwhile). Bounds what an edit that sends no event (the admin) takes to show.
SHARED_FOR = 10.0

Load = Callable[..., Awaitable["SessionInfo | None"]]


class SharedSessions:
    """Each session as this process's phones know it: read once, shared by every phone that joins while
    it is fresh, and kept current from the session's events. The one owner of that cache: what is in
    it, how long it is trusted, and what invalidates it.

    It lives beside the relay, not in session_info, because the relay decides whether the cache may be
    trusted at all: a copy is kept only if this process was already listening to the session's events
    when it was read (else an event could fall between the read and the listening), every event the
    relay reads updates it (`heard`), and it goes when the relay loses the channel layer or the
    session's last phone of this process leaves. session_info only knows how to read a session.

    When a hall scans the QR code at once this saves the database a read per phone.
    """

    def __init__(self, relay: Relay) -> None:
        self._relay = relay
        self._infos: dict[str, tuple[SessionInfo, float]] = {}  # code -> (the session, loop time it was read)
        self._heard: Counter[str] = Counter()  # events heard per session code

    async def get(self, code: str, *, load: Load) -> SessionInfo | None:
        """The session `code`, shared while fresh; `load(code=...)` reads it when it is not."""
        now = asyncio.get_running_loop().time()
        shared = self._infos.get(code)
        if shared is not None and now - shared[1] < SHARED_FOR:
            return shared[0]
        heard = self._heard[code]
        info = await load(code=code)
        if info is None or not info.session.is_open:
            return info  # not shared: an unknown code must not make this process listen for it
        if not self._relay.watching(code):
            await self._relay.watch(code)
            heard = self._heard[code]
            info = await load(code=code)  # read after the relay listens: no event falls between
            if info is None:
                return None
        if self._heard[code] == heard:  # else an event came while reading: this copy may be older than it
            self._infos[code] = (info, now)
        return info

    def heard(self, code: str, event: dict[str, Any]) -> dict[str, Any]:
        """An event of session `code` reached this process: the shared copy takes its new state, and the
        event carries that copy to the phones (one copy for all of them, not one each)."""
        self._heard[code] += 1
        shared = self._infos.get(code)
        if shared is None or event.get("type") != "session.changed":
            return event
        info = shared[0].with_state(event["state"])
        self._infos[code] = (info, shared[1])
        return {**event, "info": info}

    def forget(self, code: str) -> None:
        self._infos.pop(code, None)

    def clear(self) -> None:
        self._infos.clear()


class Relay:
    def __init__(self) -> None:
        self._listeners: dict[str, set[Listener]] = {}
        self._joined: dict[str, float] = {}  # session code -> loop time this channel joined its phones group
        self._channel: str | None = None
        self._task: asyncio.Task[None] | None = None
        self.sessions = SharedSessions(self)

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
                self.sessions.forget(code)

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
            event = self.sessions.heard(code, event)
            for listener in list(self._listeners.get(code, ())):
                listener(event)

    def _lose(self) -> None:
        listeners, self._listeners = self._listeners, {}
        self._joined.clear()
        self.sessions.clear()
        self._task = None
        for group in listeners.values():
            for listener in group:
                listener(LOST)
