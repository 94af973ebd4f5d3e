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
from redis.exceptions import RedisError

from workshop.stats import BINS, MIN_VALUE

log = logging.getLogger(__name__)

# (round, participant id, slider key) -> a value 0..100, ABSTAIN, or None to remove the position
Key = tuple[int, int, str]
Updates = Mapping[Key, int | None]
ABSTAIN = -1
ROOM = "all"
KEY_TTL = 3 * 24 * 3600


def group_scope(group: int) -> str:
    return f"g{group}"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Counts per (round, scope) and slider; scope is ROOM or group_scope(id)."""

    joined: int
    connected: int
    group_sizes: dict[int, int]
    counts: dict[tuple[int, str], dict[str, list[int]]]
    abstained: dict[tuple[int, str], dict[str, int]]
    # False when the store has lost the session (a restarted Redis): refill it from the database.
    seeded: bool = True

    def counts_for(self, round: int, slider: str, scope: str = ROOM) -> list[int]:
        return self.counts.get((round, scope), {}).get(slider) or [0] * BINS

    def abstained_for(self, round: int, slider: str, scope: str = ROOM) -> int:
        return self.abstained.get((round, scope), {}).get(slider, 0)


class LiveStore(Protocol):
    async def is_seeded(self, code: str) -> bool: ...
    async def seed(
        self, code: str, *, members: Mapping[int, int | None], positions: Iterable[tuple[int, int, str, int]]
    ) -> None: ...
    async def apply(self, code: str, updates: Updates) -> None: ...
    async def add_member(self, code: str, participant: int, group: int | None) -> None: ...
    async def positions_of(
        self, code: str, participant: int, round: int, sliders: Sequence[str]
    ) -> dict[str, int | None]: ...
    async def touch(self, code: str, participant: int) -> None: ...
    async def drop(self, code: str, participant: int) -> None: ...
    async def snapshot(self, code: str) -> Snapshot: ...
    async def forget(self, code: str) -> None: ...


@dataclass
class _Room:
    positions: dict[Key, int] = field(default_factory=dict)
    counts: dict[tuple[int, str], dict[str, list[int]]] = field(default_factory=dict)
    abstained: dict[tuple[int, str], dict[str, int]] = field(default_factory=dict)
    members: dict[int, int | None] = field(default_factory=dict)
    connected: dict[int, float] = field(default_factory=dict)
    seeded: bool = False

    def _count(self, round: int, participant: int, slider: str, value: int, step: int) -> None:
        group = self.members.get(participant)
        scopes = [ROOM] if group is None else [ROOM, group_scope(group)]
        for scope in scopes:
            if value == ABSTAIN:
                table = self.abstained.setdefault((round, scope), {})
                table[slider] = table.get(slider, 0) + step
            else:
                self.counts.setdefault((round, scope), {}).setdefault(slider, [0] * BINS)[value - MIN_VALUE] += step

    def put(self, key: Key, value: int | None) -> None:
        old = self.positions.get(key)
        if old == value:
            return
        round, participant, slider = key
        if old is not None:
            self._count(round, participant, slider, old, -1)
        if value is None:
            del self.positions[key]
        else:
            self.positions[key] = value
            self._count(round, participant, slider, value, +1)


def _nonempty(tables: dict) -> dict:
    return {scope: table for scope, table in tables.items() if table}


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
        self, code: str, *, members: Mapping[int, int | None], positions: Iterable[tuple[int, int, str, int]]
    ) -> None:
        room = self._room(code)
        for participant, group in members.items():
            room.members.setdefault(participant, group)
        for round, participant, slider, value in positions:
            if (round, participant, slider) not in room.positions:
                room.put((round, participant, slider), value)
        room.seeded = True

    async def apply(self, code: str, updates: Updates) -> None:
        room = self._room(code)
        for key, value in updates.items():
            room.put(key, value)

    async def add_member(self, code: str, participant: int, group: int | None) -> None:
        self._room(code).members[participant] = group

    async def positions_of(
        self, code: str, participant: int, round: int, sliders: Sequence[str]
    ) -> dict[str, int | None]:
        positions = self._room(code).positions
        return {slider: positions.get((round, participant, slider)) for slider in sliders}

    async def touch(self, code: str, participant: int) -> None:
        self._room(code).connected[participant] = time.monotonic() + self._ttl

    async def drop(self, code: str, participant: int) -> None:
        self._room(code).connected.pop(participant, None)

    async def snapshot(self, code: str) -> Snapshot:
        room = self._room(code)
        now = time.monotonic()
        for participant in [p for p, until in room.connected.items() if until <= now]:
            del room.connected[participant]
        sizes: dict[int, int] = {}
        for group in room.members.values():
            if group is not None:
                sizes[group] = sizes.get(group, 0) + 1
        return Snapshot(
            joined=len(room.members),
            connected=len(room.connected),
            group_sizes=sizes,
            # Empty entries are left out, as Redis deletes counts that drop to zero.
            counts=_nonempty(
                {scope: {s: list(c) for s, c in table.items() if any(c)} for scope, table in room.counts.items()}
            ),
            abstained=_nonempty(
                {scope: {s: n for s, n in table.items() if n} for scope, table in room.abstained.items()}
            ),
            seeded=room.seeded,
        )

    async def forget(self, code: str) -> None:
        self._rooms.pop(code, None)


# Replace a participant's value and keep the counts of the room and of the
# participant's group in step, atomically. KEYS: positions, counts, members.
# ARGV: only_if_absent (0/1), then quads round, participant, slider, value
# ('' removes, 'n' is an abstention).
_APPLY = """
local only_if_absent = ARGV[1] == '1'
for i = 2, #ARGV, 4 do
  local round, participant, slider, value = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local field = round .. ':' .. participant .. ':' .. slider
  local old = redis.call('HGET', KEYS[1], field)
  if old ~= value and not (only_if_absent and old) then
    local scopes = {'all'}
    local group = redis.call('HGET', KEYS[3], participant)
    if group and group ~= '' then scopes[2] = 'g' .. group end
    for _, scope in ipairs(scopes) do
      local prefix = round .. ':' .. scope .. ':' .. slider .. ':'
      if old then
        if redis.call('HINCRBY', KEYS[2], prefix .. old, -1) <= 0 then
          redis.call('HDEL', KEYS[2], prefix .. old)
        end
      end
      if value ~= '' then
        redis.call('HINCRBY', KEYS[2], prefix .. value, 1)
      end
    end
    if value == '' then
      redis.call('HDEL', KEYS[1], field)
    else
      redis.call('HSET', KEYS[1], field, value)
    end
  end
end
return 1
"""


def _encode(value: int | None) -> str:
    return "" if value is None else "n" if value == ABSTAIN else str(value)


def _decode(raw: bytes | None) -> int | None:
    if raw is None:
        return None
    return ABSTAIN if raw == b"n" else int(raw)


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

    async def _run_apply(self, code: str, updates: Iterable[tuple[Key, int | None]], *, only_if_absent: bool) -> None:
        client, script = self._client()
        keys = self._keys(code)
        args: list[object] = ["1" if only_if_absent else "0"]
        for (round, participant, slider), value in updates:
            args.extend((round, participant, slider, _encode(value)))
        async with client.pipeline(transaction=False) as pipe:
            await script(keys=[keys["pos"], keys["cnt"], keys["mem"]], args=args, client=pipe)  # type: ignore[operator]
            for key in keys.values():
                pipe.expire(key, KEY_TTL)
            await pipe.execute()

    async def is_seeded(self, code: str) -> bool:
        client, _ = self._client()
        return bool(await client.exists(self._keys(code)["seeded"]))

    async def seed(
        self, code: str, *, members: Mapping[int, int | None], positions: Iterable[tuple[int, int, str, int]]
    ) -> None:
        client, _ = self._client()
        keys = self._keys(code)
        async with client.pipeline(transaction=False) as pipe:
            for participant, group in members.items():
                pipe.hsetnx(keys["mem"], str(participant), "" if group is None else str(group))
            await pipe.execute()
        await self._run_apply(code, (((r, p, s), v) for r, p, s, v in positions), only_if_absent=True)
        await client.set(keys["seeded"], 1, ex=KEY_TTL)

    async def apply(self, code: str, updates: Updates) -> None:
        await self._run_apply(code, updates.items(), only_if_absent=False)

    async def add_member(self, code: str, participant: int, group: int | None) -> None:
        client, _ = self._client()
        await client.hset(self._keys(code)["mem"], str(participant), "" if group is None else str(group))

    async def positions_of(
        self, code: str, participant: int, round: int, sliders: Sequence[str]
    ) -> dict[str, int | None]:
        client, _ = self._client()
        raw = await client.hmget(self._keys(code)["pos"], [f"{round}:{participant}:{s}" for s in sliders])
        return {slider: _decode(value) for slider, value in zip(sliders, raw, strict=True)}

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

    async def snapshot(self, code: str) -> Snapshot:
        client, _ = self._client()
        keys = self._keys(code)
        async with client.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys["cnt"])
            pipe.hgetall(keys["mem"])
            pipe.zcount(keys["conn"], time.time(), "+inf")
            pipe.exists(keys["seeded"])
            raw_counts, raw_members, connected, seeded = await pipe.execute()
        counts: dict[tuple[int, str], dict[str, list[int]]] = {}
        abstained: dict[tuple[int, str], dict[str, int]] = {}
        for raw_field, raw_count in raw_counts.items():
            round, scope, rest = raw_field.decode().split(":", 2)
            slider, _, value = rest.rpartition(":")
            if value == "n":
                abstained.setdefault((int(round), scope), {})[slider] = int(raw_count)
            else:
                table = counts.setdefault((int(round), scope), {}).setdefault(slider, [0] * BINS)
                table[int(value) - MIN_VALUE] = int(raw_count)
        sizes: dict[int, int] = {}
        for raw_group in raw_members.values():
            if raw_group:
                sizes[int(raw_group)] = sizes.get(int(raw_group), 0) + 1
        return Snapshot(
            joined=len(raw_members),
            connected=int(connected),
            group_sizes=sizes,
            counts=counts,
            abstained=abstained,
            seeded=bool(seeded),
        )

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
        self._pending: dict[str, dict[Key, int | None]] = {}
        self._dirty: set[str] = set()
        self._waiters: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def put(self, code: str, key: Key, value: int | None) -> None:
        self._pending.setdefault(code, {})[key] = value
        self._kick()

    async def put_and_wait(self, code: str, key: Key, value: int | None) -> None:
        """Put, then return once the batch holding this value is in the store (a `set` is acknowledged after)."""
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
        store = get_store()
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
                await self._notify(code)
            except (RedisError, OSError) as error:
                log.warning("could not notify dashboards: %s", type(error).__name__)
            except Exception:
                log.exception("could not notify dashboards")
