"""Matching the group's slider medians to the exercise's profiles. Pure Python, no Django."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SCALE = 100


@dataclass(frozen=True, slots=True)
class ProfileTarget:
    key: str
    targets: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class ProfileMatch:
    key: str
    distance: float | None
    match: float | None


def match_profiles(
    medians: Mapping[str, float | None], profiles: Sequence[ProfileTarget]
) -> tuple[list[ProfileMatch], str | None]:
    """Euclidean distance from the medians to each profile over the sliders that have a value.

    match = 100 * (1 - distance / (100 * sqrt(k))) for k such sliders; the best
    profile is the nearest, ties going to the earlier profile; with no values
    at all every distance is None and there is no best profile.
    """
    present = [key for key, median in medians.items() if median is not None]
    if not present:
        return [ProfileMatch(p.key, None, None) for p in profiles], None

    worst = SCALE * math.sqrt(len(present))
    matches = []
    for profile in profiles:
        distance = math.sqrt(sum((medians[key] - profile.targets[key]) ** 2 for key in present))  # type: ignore[operator]
        matches.append(ProfileMatch(profile.key, distance, 100 * (1 - distance / worst)))
    best = min(matches, key=lambda m: m.distance).key if matches else None  # type: ignore[arg-type, return-value]
    return matches, best
