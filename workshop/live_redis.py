"""The live store in Redis: one session's state shared by every daphne process.

The same interface and the same counts as MemoryStore (live.py); each batch of
updates is one Lua call and one round trip. Every key of a session expires
KEY_TTL after its last write.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis

from workshop.live import ABSTAIN, KEY_TTL, Key, Snapshot, Updates
from workshop.stats import BINS, MIN_VALUE

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


# Put a participant in a group (or add them): when the group changes, move the
# counts of what they placed from the old group's scope to the new one.
# KEYS: positions, counts, members. ARGV: participant, group ('' for none), TTL.
_JOIN = """
local participant, group = ARGV[1], ARGV[2]
local old = redis.call('HGET', KEYS[3], participant)
redis.call('HSET', KEYS[3], participant, group)
redis.call('EXPIRE', KEYS[3], ARGV[3])
if not old or old == group then return 0 end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local round, who, slider = string.match(all[i], '^(%d+):(%d+):(.+)$')
  if who == participant then
    local value = all[i + 1]
    if old ~= '' then
      local field = round .. ':g' .. old .. ':' .. slider .. ':' .. value
      if redis.call('HINCRBY', KEYS[2], field, -1) <= 0 then redis.call('HDEL', KEYS[2], field) end
    end
    if group ~= '' then
      redis.call('HINCRBY', KEYS[2], round .. ':g' .. group .. ':' .. slider .. ':' .. value, 1)
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
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[aioredis.Redis, Any, Any]] = (
            weakref.WeakKeyDictionary()
        )

    def _client(self) -> tuple[aioredis.Redis, Any, Any]:
        """This event loop's client with the apply and join scripts."""
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is None:
            client = aioredis.Redis.from_url(self._url, socket_timeout=5, socket_connect_timeout=5)
            entry = (client, client.register_script(_APPLY), client.register_script(_JOIN))
            self._clients[loop] = entry
        return entry

    def _keys(self, code: str) -> dict[str, str]:
        base = f"{self._prefix}:live:{code}"
        return {name: f"{base}:{name}" for name in ("pos", "cnt", "mem", "conn", "seeded")}

    async def _run_apply(self, code: str, updates: Iterable[tuple[Key, int | None]], *, only_if_absent: bool) -> None:
        client, script, _ = self._client()
        keys = self._keys(code)
        args: list[object] = ["1" if only_if_absent else "0"]
        for (round, participant, slider), value in updates:
            args.extend((round, participant, slider, _encode(value)))
        async with client.pipeline(transaction=False) as pipe:
            await script(keys=[keys["pos"], keys["cnt"], keys["mem"]], args=args, client=pipe)
            for key in keys.values():
                pipe.expire(key, KEY_TTL)
            await pipe.execute()

    async def is_seeded(self, code: str) -> bool:
        client, _, _ = self._client()
        return bool(await client.exists(self._keys(code)["seeded"]))

    async def seed(
        self, code: str, *, members: Mapping[int, int | None], positions: Iterable[tuple[int, int, str, int]]
    ) -> None:
        client, _, _ = self._client()
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
        _, _, join = self._client()
        keys = self._keys(code)
        await join(
            keys=[keys["pos"], keys["cnt"], keys["mem"]],
            args=[str(participant), "" if group is None else str(group), KEY_TTL],
        )

    async def positions_of(
        self, code: str, participant: int, round: int, sliders: Sequence[str]
    ) -> dict[str, int | None]:
        client, _, _ = self._client()
        raw = await client.hmget(self._keys(code)["pos"], [f"{round}:{participant}:{s}" for s in sliders])
        return {slider: _decode(value) for slider, value in zip(sliders, raw, strict=True)}

    async def touch(self, code: str, participant: int) -> None:
        client, _, _ = self._client()
        key = self._keys(code)["conn"]
        now = time.time()
        async with client.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {str(participant): now + self._ttl})
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.expire(key, KEY_TTL)
            await pipe.execute()

    async def drop(self, code: str, participant: int) -> None:
        client, _, _ = self._client()
        await client.zrem(self._keys(code)["conn"], str(participant))

    async def snapshot(self, code: str) -> Snapshot:
        client, _, _ = self._client()
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
        client, _, _ = self._client()
        await client.delete(*self._keys(code).values())
