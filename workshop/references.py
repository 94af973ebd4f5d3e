"""A reference ("vergelijk met het land"): frozen aggregates over anonymised archives, and a room compared
with them. Pure: no Django. The service (references_service.py) reads archives and stores what `build` makes.

A session counts in a round only when every slider of that round has at least `min_answers` answers (the
archives' own suppression): a session below it contributes nothing to that round, no median and no
profile. Per round and slider the reference keeps the distribution of the counted sessions' medians (their
median, the middle half, how many sessions); per round how often each profile came out. No weighting: a
session of 8 people counts as much as one of 80. See docs/archive-format.md, "References".
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ROUNDS = (1, 2)


@dataclass(frozen=True)
class SessionFigures:
    """What one archive gives a reference: its exercise version and, per round, per slider key its answers
    (not "geen mening") and median, and its nearest profile ('' when the archive left it out)."""

    exercise: int
    summaries: Mapping[tuple[int, str], tuple[int, float | None]]
    profiles: Mapping[int, str]


def counts_in(figures: SessionFigures, round: int, sliders: Sequence[str], min_answers: int) -> bool:
    """Whether this session counts in this round: every slider shown by the archives' own rule."""
    for key in sliders:
        n, median = figures.summaries.get((round, key), (0, None))
        if n < min_answers or median is None:
            return False
    return bool(sliders)


def spread(values: Sequence[float]) -> dict[str, float | int]:
    """The median and middle half of session medians (quartiles as `statistics.quantiles`, inclusive)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        q1 = q3 = ordered[0]
    else:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    return {"median": float(statistics.median(ordered)), "q1": float(q1), "q3": float(q3), "sessions": len(ordered)}


def build(figures: Iterable[SessionFigures], *, sliders: Sequence[str], min_answers: int) -> dict[str, Any]:
    """The frozen aggregates (plain JSON) of sessions of one exercise version.

    `sessions` is how many sessions count in round 1: the number a reference is published on.
    """
    chosen = list(figures)
    versions = {f.exercise for f in chosen}
    if len(versions) > 1:
        raise ValueError("a reference combines sessions of one exercise version only")
    rounds: dict[str, Any] = {}
    for round in ROUNDS:
        counted = [f for f in chosen if counts_in(f, round, sliders, min_answers)]
        if not counted:
            continue
        profiles = Counter(f.profiles.get(round, "") for f in counted)
        profiles.pop("", None)
        rounds[str(round)] = {
            "sessions": len(counted),
            "sliders": {
                key: spread([float(f.summaries[(round, key)][1]) for f in counted])  # type: ignore[arg-type]
                for key in sliders
            },
            "profiles": dict(sorted(profiles.items(), key=lambda item: (-item[1], item[0]))),
        }
    return {"sessions": rounds.get("1", {}).get("sessions", 0), "rounds": rounds}


def publishable(data: Mapping[str, Any], minimum: int) -> bool:
    return int(data.get("sessions", 0)) >= minimum


# A room against a reference ------------------------------------------------------


@dataclass(frozen=True)
class Band:
    median: float
    q1: float
    q3: float
    sessions: int

    def place(self, value: float) -> str:
        """Where a value lies against the middle half: "below", "within" or "above"."""
        if value < self.q1:
            return "below"
        return "above" if value > self.q3 else "within"


@dataclass(frozen=True)
class CompareRow:
    key: str
    room: float | None  # the room's median this round
    before: float | None  # the room's round-1 median, in round 2
    band: Band | None  # where the reference's sessions are: their round 1 (round 2 too: "where others are")
    desired: Band | None  # in round 2, where the reference's sessions want to go (their round 2), if known
    place: str | None  # the room against `band`


@dataclass(frozen=True)
class Share:
    profile: str
    count: int
    sessions: int

    @property
    def one_in(self) -> int | None:
        """ "1 in N", rounded; None when no session came out here (then the count says it)."""
        return round(self.sessions / self.count) if self.count else None


@dataclass(frozen=True)
class Comparison:
    round: int
    rows: tuple[CompareRow, ...]
    share: Share | None  # how many of the reference's sessions are (round 1) where the room is or wants to go
    sessions: int  # the reference's sessions (round 1)


def _band(data: Mapping[str, Any], round: int, key: str) -> Band | None:
    entry = data.get("rounds", {}).get(str(round), {}).get("sliders", {}).get(key)
    if entry is None:
        return None
    return Band(float(entry["median"]), float(entry["q1"]), float(entry["q3"]), int(entry["sessions"]))


def compare(
    data: Mapping[str, Any],
    *,
    round: int,
    sliders: Sequence[str],
    medians: Mapping[str, float | None],
    before: Mapping[str, float | None] | None = None,
    profile: str | None = None,
) -> Comparison | None:
    """The room's medians and profile in `round` against where the reference's sessions are (their round 1);
    in round 2 where the room wants to go against that, with where the others want to go beside it.
    None for a reference without sessions."""
    entry = data.get("rounds", {}).get("1")
    if not entry:
        return None
    rows = []
    for key in sliders:
        band = _band(data, 1, key)
        room = medians.get(key)
        rows.append(
            CompareRow(
                key=key,
                room=room,
                before=(before or {}).get(key) if round == 2 else None,
                band=band,
                desired=_band(data, 2, key) if round == 2 else None,
                place=band.place(room) if band is not None and room is not None else None,
            )
        )
    sessions = int(entry["sessions"])
    share = Share(profile, int(entry.get("profiles", {}).get(profile, 0)), sessions) if profile else None
    return Comparison(round=round, rows=tuple(rows), share=share, sessions=sessions)


def record(copy: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What an archive keeps of the reference its session showed: which one, not its figures."""
    if not copy:
        return None
    return {"id": copy["id"], "name": copy["name"], "made": copy["made"], "sessions": copy["sessions"]}
