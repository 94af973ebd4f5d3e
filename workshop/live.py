"""Where the live positions of a session are kept between `move` and the dashboard.

State per session: the latest value per (participant, slider), a count per
value per slider (so statistics cost O(101), not O(participants)), the set of
participants who joined, and who is connected now. Two stores share one
interface: MemoryStore for the embedded single process, RedisStore when several
daphne processes share REDIS_URL.

Moves are not written one by one: the Outbox collects the latest value per
(participant, slider) and applies a batch per session every LIVE_FLUSH seconds,
then notifies that session's dashboards once.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import redis.asyncio as aioredis
from django.conf import settings

from workshop.stats import BINS, MIN_VALUE

log = logging.getLogger(__name__)

# participant id, slider key -> value, or None to remove the position
Updates = Mapping[tuple[int, str], int | None]
KEY_TTL = 3 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Snapshot:
    joined: int
    connected: int
    counts: dict[str, list[int]]


class LiveStore(Protocol):
    async def is_seeded(self, code: str) -> bool: ...
    async def seed(
        self,
        code: str,
        *,
        members: Iterable[int],
        positions: Iterable[tuple[int, str, int]],
    ) -> None: ...
    async def apply(self, code: str, updates: Updates) -> None: ...
    async def add_member(self, code: str, participant: int) -> None: ...
    async def positions_of(self, code: str, participant: int, sliders: Sequence[str]) -> dict[str, int | None]: ...
    async def touch(self, code: str, participant: int) -> None: ...
    async def drop(self, code: str, participant: int) -> None: ...
    async def snapshot(self, code: str, sliders: Sequence[str]) -> Snapshot: ...
    async def forget(self, code: str) -> None: ...


@dataclass
class _Room:
    positions: dict[tuple[int, str], int] = field(default_factory=dict)
    counts: dict[str, list[int]] = field(default_factory=dict)
    members: set[int] = field(default_factory=set)
    connected: dict[int, float] = field(default_factory=dict)
    seeded: bool = False

    def put(self, participant: int, slider: str, value: int | None) -> None:
        key = (participant, slider)
        old = self.positions.get(key)
        if old == value:
            return
        counts = self.counts.setdefault(slider, [0] * BINS)
        if old is not None:
            counts[old - MIN_VALUE] -= 1
        if value is None:
            del self.positions[key]
        else:
            self.positions[key] = value
            counts[value - MIN_VALUE] += 1


class MemoryStore:
    """One process's live state. Correct only when a single process serves every socket."""

    def __init__(self, connected_ttl: float) -> None:
        self._rooms: dict[str, _Room] = {}
        self._ttl = connected_ttl

    def _room(self, code: str) -> _Room:
        return self._rooms.setdefault(code, _Room())

    async def is_seeded(self, code: str) -> bool:
        return self._room(code).seeded

    async def seed(
        self,
        code: str,
        *,
        members: Iterable[int],
        positions: Iterable[tuple[int, str, int]],
    ) -> None:
        room = self._room(code)
        room.members.update(members)
        for participant, slider, value in positions:
            if (participant, slider) not in room.positions:
                room.put(participant, slider, value)
        room.seeded = True

    async def apply(self, code: str, updates: Updates) -> None:
        room = self._room(code)
        for (participant, slider), value in updates.items():
            room.put(participant, slider, value)

    async def add_member(self, code: str, participant: int) -> None:
        self._room(code).members.add(participant)

    async def positions_of(self, code: str, participant: int, sliders: Sequence[str]) -> dict[str, int | None]:
        positions = self._room(code).positions
        return {slider: positions.get((participant, slider)) for slider in sliders}

    async def touch(self, code: str, participant: int) -> None:
        self._room(code).connected[participant] = time.monotonic() + self._ttl

    async def drop(self, code: str, participant: int) -> None:
        self._room(code).connected.pop(participant, None)

    async def snapshot(self, code: str, sliders: Sequence[str]) -> Snapshot:
        room = self._room(code)
        now = time.monotonic()
        for participant in [p for p, until in room.connected.items() if until <= now]:
            del room.connected[participant]
        return Snapshot(
            joined=len(room.members),
            connected=len(room.connected),
            counts={slider: list(room.counts.get(slider, [0] * BINS)) for slider in sliders},
        )

    async def forget(self, code: str) -> None:
        self._rooms.pop(code, None)


# Replace a participant's value and keep the per-value counts in step, atomically.
# KEYS: positions hash, counts hash. ARGV: only_if_absent (0/1), then triples
# participant, slider, value ('' removes).
_APPLY = """
local only_if_absent = ARGV[1] == '1'
for i = 2, #ARGV, 3 do
  local slider = ARGV[i + 1]
  local field = ARGV[i] .. ':' .. slider
  local value = ARGV[i + 2]
  local old = redis.call('HGET', KEYS[1], field)
  if old ~= value and not (only_if_absent and old) then
    if old then
      if redis.call('HINCRBY', KEYS[2], slider .. ':' .. old, -1) <= 0 then
        redis.call('HDEL', KEYS[2], slider .. ':' .. old)
      end
    end
    if value == '' then
      redis.call('HDEL', KEYS[1], field)
    else
      redis.call('HSET', KEYS[1], field, value)
      redis.call('HINCRBY', KEYS[2], slider .. ':' .. value, 1)
    end
  end
end
return 1
"""


class RedisStore:
    """Live state in Redis, shared by every process; one round trip per batch."""

    def __init__(self, url: str, prefix: str, connected_ttl: float) -> None:
        self._url = url
        self._prefix = prefix
        self._ttl = connected_ttl
        # redis.asyncio clients belong to one event loop.
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[aioredis.Redis, object]] = (
            weakref.WeakKeyDictionary()
        )

    def _client(self) -> tuple[aioredis.Redis, object]:
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is None:
            client = aioredis.Redis.from_url(self._url, socket_timeout=5, socket_connect_timeout=5)
            entry = (client, client.register_script(_APPLY))
            self._clients[loop] = entry
        return entry

    def _keys(self, code: str) -> dict[str, str]:
        base = f"{self._prefix}:live:{code}"
        return {name: f"{base}:{name}" for name in ("pos", "cnt", "mem", "conn", "seeded")}

    async def _run_apply(
        self,
        code: str,
        updates: Iterable[tuple[int, str, int | None]],
        *,
        only_if_absent: bool,
    ) -> None:
        client, script = self._client()
        keys = self._keys(code)
        args: list[object] = ["1" if only_if_absent else "0"]
        for participant, slider, value in updates:
            args.extend((participant, slider, "" if value is None else value))
        async with client.pipeline(transaction=False) as pipe:
            await script(keys=[keys["pos"], keys["cnt"]], args=args, client=pipe)  # type: ignore[operator]
            for key in keys.values():
                pipe.expire(key, KEY_TTL)
            await pipe.execute()

    async def is_seeded(self, code: str) -> bool:
        client, _ = self._client()
        return bool(await client.exists(self._keys(code)["seeded"]))

    async def seed(
        self,
        code: str,
        *,
        members: Iterable[int],
        positions: Iterable[tuple[int, str, int]],
    ) -> None:
        client, _ = self._client()
        keys = self._keys(code)
        members = list(members)
        if members:
            await client.sadd(keys["mem"], *members)
        await self._run_apply(code, positions, only_if_absent=True)
        await client.set(keys["seeded"], 1, ex=KEY_TTL)

    async def apply(self, code: str, updates: Updates) -> None:
        await self._run_apply(code, ((p, s, v) for (p, s), v in updates.items()), only_if_absent=False)

    async def add_member(self, code: str, participant: int) -> None:
        client, _ = self._client()
        await client.sadd(self._keys(code)["mem"], participant)

    async def positions_of(self, code: str, participant: int, sliders: Sequence[str]) -> dict[str, int | None]:
        client, _ = self._client()
        raw = await client.hmget(self._keys(code)["pos"], [f"{participant}:{s}" for s in sliders])
        return {slider: None if value is None else int(value) for slider, value in zip(sliders, raw, strict=True)}

    async def touch(self, code: str, participant: int) -> None:
        client, _ = self._client()
        key = self._keys(code)["conn"]
        now = time.time()
        async with client.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {str(participant): now + self._ttl})
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.expire(key, KEY_TTL)
            await pipe.execute()

    async def drop(self, code: str, participant: int) -> None:
        client, _ = self._client()
        await client.zrem(self._keys(code)["conn"], str(participant))

    async def snapshot(self, code: str, sliders: Sequence[str]) -> Snapshot:
        client, _ = self._client()
        keys = self._keys(code)
        async with client.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys["cnt"])
            pipe.scard(keys["mem"])
            pipe.zcount(keys["conn"], time.time(), "+inf")
            raw_counts, joined, connected = await pipe.execute()
        counts = {slider: [0] * BINS for slider in sliders}
        for raw_field, raw_count in raw_counts.items():
            slider, _, value = raw_field.decode().rpartition(":")
            if slider in counts:
                counts[slider][int(value) - MIN_VALUE] = int(raw_count)
        return Snapshot(joined=int(joined), connected=int(connected), counts=counts)

    async def forget(self, code: str) -> None:
        client, _ = self._client()
        await client.delete(*self._keys(code).values())


_stores: dict[tuple[str, str], LiveStore] = {}


def get_store() -> LiveStore:
    key = (settings.REDIS_URL, settings.LIVE_PREFIX)
    store = _stores.get(key)
    if store is None:
        if settings.REDIS_URL:
            store = RedisStore(settings.REDIS_URL, settings.LIVE_PREFIX, settings.CONNECTED_TTL)
        else:
            store = MemoryStore(settings.CONNECTED_TTL)
        _stores[key] = store
    return store


class Outbox:
    """Batches this process's moves and sets into the store, and wakes dashboards once per batch."""

    def __init__(self, interval: float, notify: Callable[[str], Awaitable[None]]) -> None:
        self._interval = interval
        self._notify = notify
        self._pending: dict[str, dict[tuple[int, str], int | None]] = {}
        self._dirty: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def put(self, code: str, participant: int, slider: str, value: int | None) -> None:
        self._pending.setdefault(code, {})[(participant, slider)] = value
        self._kick()

    def mark(self, code: str) -> None:
        """Something other than a position changed (who is connected): dashboards should redraw."""
        self._dirty.add(code)
        self._kick()

    def pending_for(self, code: str, participant: int) -> dict[str, int | None]:
        return {s: v for (p, s), v in self._pending.get(code, {}).items() if p == participant}

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
        store = get_store()
        for code, updates in pending.items():
            try:
                await store.apply(code, updates)
            except Exception:
                log.exception(
                    "live store unavailable; keeping %d updates for the next batch",
                    len(updates),
                )
                retry = self._pending.setdefault(code, {})
                for key, value in updates.items():
                    retry.setdefault(key, value)
                self._kick()
        for code in dirty | pending.keys():
            try:
                await self._notify(code)
            except Exception:
                log.exception("could not notify dashboards")
