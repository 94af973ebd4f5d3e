"""Where the live positions of a session are kept between `move` and the dashboard.

State per session: the latest value per (participant, slider), a count per
value per slider (so statistics cost O(101), not O(participants)), the set of
participants who joined, and who is connected now. Two stores share one
interface: MemoryStore (here) for the embedded single process, RedisStore
(live_redis.py) when several daphne processes share REDIS_URL.

`tally` gives the same Snapshot from committed rows, with no store and no
event loop: results and archives count what was stored, not what is live.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from workshop.stats import BINS, MIN_VALUE

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
        self._count_in((round, ROOM), slider, value, step)
        if group is not None:
            self._count_in((round, group_scope(group)), slider, value, step)

    def _count_in(self, scope: tuple[int, str], slider: str, value: int, step: int) -> None:
        # Twice per move: no table is made unless it is missing (setdefault would build one every time).
        if value == ABSTAIN:
            table = self.abstained.get(scope)
            if table is None:
                table = self.abstained[scope] = {}
            table[slider] = table.get(slider, 0) + step
            return
        tables = self.counts.get(scope)
        if tables is None:
            tables = self.counts[scope] = {}
        counts = tables.get(slider)
        if counts is None:
            counts = tables[slider] = [0] * BINS
        counts[value - MIN_VALUE] += step

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

    def seed(self, members: Mapping[int, int | None], positions: Iterable[tuple[int, int, str, int]]) -> None:
        for participant, group in members.items():
            self.members.setdefault(participant, group)
        for round, participant, slider, value in positions:
            if (round, participant, slider) not in self.positions:
                self.put((round, participant, slider), value)
        self.seeded = True

    def join(self, participant: int, group: int | None) -> None:
        """Add a participant, or move one into a group: what they placed already counts for it at once."""
        if participant not in self.members:
            self.members[participant] = group  # a new phone: nothing placed yet
            return
        if self.members[participant] == group:
            return
        mine = [(key, value) for key, value in self.positions.items() if key[1] == participant]
        for (round, _, slider), value in mine:
            self._count(round, participant, slider, value, -1)
        self.members[participant] = group
        for (round, _, slider), value in mine:
            self._count(round, participant, slider, value, +1)

    def snapshot(self) -> Snapshot:
        sizes: dict[int, int] = {}
        for group in self.members.values():
            if group is not None:
                sizes[group] = sizes.get(group, 0) + 1
        return Snapshot(
            joined=len(self.members),
            connected=len(self.connected),
            group_sizes=sizes,
            # Empty entries are left out, as Redis deletes counts that drop to zero.
            counts=_nonempty(
                {scope: {s: list(c) for s, c in table.items() if any(c)} for scope, table in self.counts.items()}
            ),
            abstained=_nonempty(
                {scope: {s: n for s, n in table.items() if n} for scope, table in self.abstained.items()}
            ),
            seeded=self.seeded,
        )


def tally(members: Mapping[int, int | None], positions: Iterable[tuple[int, int, str, int]]) -> Snapshot:
    """The snapshot of committed rows (members: participant -> group; positions: round, participant, slider, value).

    Pure: no store, no event loop. Results and archives count what was stored.
    """
    room = _Room()
    room.seed(members, positions)
    return room.snapshot()


def _nonempty(tables: dict) -> dict:
    return {scope: table for scope, table in tables.items() if table}


class MemoryStore:
    """One process's live state. Correct only when a single process serves every socket."""

    def __init__(self, connected_ttl: float) -> None:
        self._rooms: dict[str, _Room] = {}
        self._ttl = connected_ttl

    def _room(self, code: str) -> _Room:
        # Called for every move: a room is made only when missing (setdefault would make one each time).
        room = self._rooms.get(code)
        if room is None:
            room = self._rooms[code] = _Room()
        return room

    async def is_seeded(self, code: str) -> bool:
        return self._room(code).seeded

    async def seed(
        self, code: str, *, members: Mapping[int, int | None], positions: Iterable[tuple[int, int, str, int]]
    ) -> None:
        self._room(code).seed(members, positions)

    async def apply(self, code: str, updates: Updates) -> None:
        room = self._room(code)
        for key, value in updates.items():
            room.put(key, value)

    def apply_now(self, code: str, key: Key, value: int | None) -> None:
        """One value, from the loop's own thread: nothing to wait for (the outbox's direct path)."""
        self._room(code).put(key, value)

    async def add_member(self, code: str, participant: int, group: int | None) -> None:
        self._room(code).join(participant, group)

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
        return room.snapshot()

    async def forget(self, code: str) -> None:
        self._rooms.pop(code, None)
