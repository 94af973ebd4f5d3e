"""The live runtime: the one object that holds this process's live state.

It owns the live store (memory or Redis), the outbox that batches moves into
it, the presence count of this process's phone sockets, and the per-process
copy of exercise content. It is made on first use from settings, in `runtime()`,
and replaced as a whole by `reset()` (tests do that between tests). No other
module keeps mutable state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from redis.exceptions import RedisError

from workshop import broadcast
from workshop.live import Key, LiveStore, MemoryStore
from workshop.live_redis import RedisStore
from workshop.relay import Relay

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, *, store: LiveStore, flush_interval: float) -> None:
        self.store = store
        # A store in this process takes each value at once; only Redis is worth a batch per round trip.
        direct = store.apply_now if isinstance(store, MemoryStore) else None
        self.outbox = Outbox(store, flush_interval, direct=direct)
        self.relay = Relay()
        # Sockets per (session code, participant) in this process: duplicate tabs count once.
        self.presence: Counter[tuple[str, int]] = Counter()
        # An exercise version that a session uses never changes, so every socket in this
        # process shares one copy of its sliders and profiles: at a congress that is most
        # of a phone's memory. Keyed by (exercise id, created_at).
        self.exercise_parts: dict[Any, Any] = {}
        # Phones on the HTTP fallback (fallback.py): the conversation of each open stream, and each
        # phone's rate-limit bucket, so that its POSTs share both with the stream.
        self.http_phones: dict[str, Any] = {}  # token hash -> conversation
        self.http_buckets: dict[int, Any] = {}
        self.http_streams: Counter[str] = Counter()  # a keyed hash of the address -> its open streams
        self.warnings = Warnings()
        self._stale_told: dict[str, float] = {}
        # Armed timer expiries (timers.py): session code -> (the timer's end, the loop's call).
        self.timers: dict[str, tuple[Any, asyncio.TimerHandle]] = {}
        # The look for sessions closed by another process (closing_watch.py), while phones are here.
        self.closing_watch: asyncio.Task[None] | None = None

    def stale_state(self, code: str, now: float) -> bool:
        """Whether to re-announce a session whose sockets here hold an old state: once a second at most, so
        that a hall of phones refused at once costs one database read, not one each."""
        if now - self._stale_told.get(code, -1.0) < 1.0:
            return False
        self._stale_told[code] = now
        return True

    def socket_opened(self, code: str, participant: int) -> None:
        self.presence[(code, participant)] += 1

    def socket_closed(self, code: str, participant: int) -> bool:
        """Count one socket of a participant gone; True when it was their last in this process."""
        key = (code, participant)
        self.presence[key] -= 1
        if self.presence[key] > 0:
            return False
        del self.presence[key]
        return True


class Warnings:
    """At most one warning per socket and reason; what was held back is summed up per reason once a minute.

    A flooding socket otherwise writes a warning per frame. The summary names reasons and counts only (no
    addresses, no tokens); it is written by the first warning after the minute, so nothing runs in between.
    """

    SUMMARY_EVERY = 60.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._said: set[tuple[str, str]] = set()
        self._held: Counter[str] = Counter()
        self._since = clock()

    def warn(
        self, logger: logging.Logger, *, socket: str, reason: str, message: str, args: tuple[object, ...] = ()
    ) -> None:
        self._summarise()
        if (socket, reason) in self._said:
            self._held[reason] += 1
            return
        self._said.add((socket, reason))
        logger.warning(message, *args)

    def forget(self, socket: str) -> None:
        """A closed socket's reasons go, so the set stays as small as the open sockets."""
        self._said = {entry for entry in self._said if entry[0] != socket}

    def _summarise(self) -> None:
        now = self.clock()
        if now - self._since < self.SUMMARY_EVERY:
            return
        if self._held:
            counts = ", ".join(f"{reason}={count}" for reason, count in sorted(self._held.items()))
            log.warning("repeated socket warnings held back in the last minute: %s", counts)
        self._held.clear()
        self._since = now


_current: Runtime | None = None


def runtime() -> Runtime:
    # Called for every move: no settings lookup here. A change of the settings it was made from
    # (only tests change them) replaces it, through the signal below.
    global _current
    if _current is None:
        _current = Runtime(store=_store_from_settings(), flush_interval=settings.LIVE_FLUSH)
    return _current


MADE_FROM = {"REDIS_URL", "LIVE_PREFIX", "LIVE_FLUSH", "CONNECTED_TTL", "CHANNEL_LAYERS"}


@receiver(setting_changed)
def _made_from_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in MADE_FROM:
        reset()


def reset() -> None:
    """Forget this process's live state; the next `runtime()` starts anew from settings."""
    global _current
    if _current is not None:
        _current.outbox.stop()
        _current.relay.stop()
        for _end, handle in _current.timers.values():
            handle.cancel()
    _current = None


def _store_from_settings() -> LiveStore:
    if settings.REDIS_URL:
        return RedisStore(settings.REDIS_URL, settings.LIVE_PREFIX, settings.CONNECTED_TTL)
    return MemoryStore(settings.CONNECTED_TTL)


class Outbox:
    """Batches this process's moves and sets into the store, and wakes dashboards once per batch.

    With `direct` (the in-process store) a value goes into the store at once and only the dashboards'
    wake-up is batched: a dashboard reads the store when it draws, so it shows every value it got so far.
    """

    def __init__(
        self, store: LiveStore, interval: float, *, direct: Callable[[str, Key, int | None], None] | None = None
    ) -> None:
        self._store = store
        self._interval = interval
        self._direct = direct
        self._pending: dict[str, dict[Key, int | None]] = {}
        self._dirty: set[str] = set()
        self._waiters: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def put(self, code: str, key: Key, value: int | None) -> None:
        if self._direct is not None:
            self._direct(code, key, value)
            task = self._task
            if code in self._dirty and task is not None and not task.done():
                return  # its notification is on the way already: nothing more per move
            self._dirty.add(code)
            self._kick()
            return
        pending = self._pending.get(code)
        if pending is None:
            pending = self._pending[code] = {}
        pending[key] = value
        self._kick()

    async def put_and_wait(self, code: str, key: Key, value: int | None) -> None:
        """Put, then return once the batch holding this value is in the store (a `set` is acknowledged after)."""
        if self._direct is not None:
            self.put(code, key, value)
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self.put(code, key, value)
        await waiter

    def mark(self, code: str) -> None:
        """Something other than a position changed (who is connected): dashboards should redraw."""
        self._dirty.add(code)
        self._kick()

    def pending_for(self, code: str, participant: int, round: int) -> dict[str, int | None]:
        return {s: v for (r, p, s), v in self._pending.get(code, {}).items() if p == participant and r == round}

    def discard(self, code: str) -> None:
        """Drop what is batched for a session whose live state is being rebuilt (a reset)."""
        self._pending.pop(code, None)

    def stop(self) -> None:
        """Drop the pending batch timer (a runtime being replaced): nothing is left waiting on a loop."""
        task, self._task = self._task, None
        if task is not None and not task.done() and not task.get_loop().is_closed():
            task.get_loop().call_soon_threadsafe(task.cancel)

    def _kick(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        # This wait is the batching window, not synchronisation.
        await asyncio.sleep(self._interval)
        await self.flush()
        # What arrived while this batch was being applied needs a batch of its own.
        self._task = None
        if self._pending or self._dirty:
            self._kick()

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        dirty, self._dirty = self._dirty, set()
        waiters, self._waiters = self._waiters, []
        store = self._store
        failed = False
        for code, updates in pending.items():
            try:
                await store.apply(code, updates)
            except Exception as error:
                failed = True
                if not self._failing:
                    # Once per outage, not every batch: the retries below run every interval.
                    log.warning("live store unavailable (%s); keeping updates until it is back", type(error).__name__)
                retry = self._pending.setdefault(code, {})
                for key, value in updates.items():
                    retry.setdefault(key, value)
        if failed:
            self._failing = True
            self._waiters[:0] = waiters
            self._dirty |= dirty
            self._kick()
            return
        if self._failing:
            self._failing = False
            log.warning("live store is back")
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        for code in dirty | pending.keys():
            try:
                await broadcast.live_changed(code)
            except (RedisError, OSError) as error:
                log.warning("could not notify dashboards: %s", type(error).__name__)
            except Exception:
                log.exception("could not notify dashboards")
