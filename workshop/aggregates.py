"""From a snapshot of counts to the statistics and nearest profiles of a session, per round and group.

The same computation serves the live dashboard (a snapshot of the live store)
and the committed results and archives (`committed_result`: a tally of stored
rows, no store and no event loop).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings

from workshop.live import ROOM, Snapshot, group_scope, tally
from workshop.profiles import ProfileMatch, match_profiles
from workshop.session_info import SessionInfo, committed
from workshop.stats import EMPTY, Summary, summarize_counts


@dataclass(frozen=True)
class RoundResult:
    summaries: dict[str, Summary]
    abstained: dict[str, int]
    matches: list[ProfileMatch]
    best: str | None


@dataclass(frozen=True)
class GroupResult:
    id: int
    name: str
    size: int
    result: RoundResult
    # Sliders with fewer than MIN_GROUP_SHOWN answers: their count only, and the group no profile.
    too_small: frozenset[str] = frozenset()
    # In round 2, the group's round 1 ("nu" beside "gewenst"): only for a group that existed then.
    before: RoundResult | None = None


@dataclass(frozen=True)
class SessionResult:
    """A session's statistics per round and group, computed from a snapshot: of the live store (the
    dashboard, the screen, phones after a reveal) or of committed rows (results, exports, archives)."""

    snapshot: Snapshot
    round: int
    rounds: dict[int, RoundResult]
    groups: list[GroupResult]

    @property
    def current(self) -> RoundResult:
        return self.rounds[self.round]


def _round_result(info: SessionInfo, snapshot: Snapshot, round: int, scope: str) -> RoundResult:
    summaries = {key: summarize_counts(snapshot.counts_for(round, key, scope)) for key in info.slider_keys}
    matches, best = match_profiles({key: s.median for key, s in summaries.items()}, info.targets)
    abstained = {key: snapshot.abstained_for(round, key, scope) for key in info.slider_keys}
    return RoundResult(summaries=summaries, abstained=abstained, matches=matches, best=best)


def compute(info: SessionInfo, snapshot: Snapshot) -> SessionResult:
    """Every view draws from this: a group with fewer than MIN_GROUP_SHOWN answers on a slider has only its
    count there (no statistic, no dots or bars: its counts leave the snapshot) and no profile, so that no one
    in a small group is singled out on the control panel, the screen, the results or any download."""
    round = info.session.round
    rounds = {r: _round_result(info, snapshot, r, ROOM) for r in range(1, round + 1)}
    groups = []
    hidden: list[tuple[int, str, str]] = []
    since = dict(info.group_since)
    for group_id, name in info.groups:
        scope = group_scope(group_id)
        result = _round_result(info, snapshot, round, scope)
        too_small = _too_small(result)
        if too_small:
            result = _count_only(result, too_small)
            hidden += [(round, scope, key) for key in too_small]
        before = None
        if round == 2 and since.get(group_id, 1) == 1:
            before = _round_result(info, snapshot, 1, scope)
            if small_before := _too_small(before):
                before = _count_only(before, small_before)
                hidden += [(1, scope, key) for key in small_before]
        size = snapshot.group_sizes.get(group_id, 0)
        groups.append(GroupResult(group_id, name, size, result, too_small, before))
    if hidden:
        snapshot = _without(snapshot, hidden)
    return SessionResult(snapshot=snapshot, round=round, rounds=rounds, groups=groups)


def _too_small(result: RoundResult) -> frozenset[str]:
    return frozenset(k for k, s in result.summaries.items() if 0 < s.n < settings.MIN_GROUP_SHOWN)


def _count_only(result: RoundResult, keys: frozenset[str]) -> RoundResult:
    summaries = {k: replace(EMPTY, n=s.n) if k in keys else s for k, s in result.summaries.items()}
    return replace(result, summaries=summaries, matches=[], best=None)


def _without(snapshot: Snapshot, hidden: list[tuple[int, str, str]]) -> Snapshot:
    counts = {scope: dict(table) for scope, table in snapshot.counts.items()}
    for round, scope, key in hidden:
        counts.get((round, scope), {}).pop(key, None)
    return replace(snapshot, counts=counts)


def committed_result(info: SessionInfo) -> SessionResult:
    """Statistics over what was committed (not live moves): results pages, exports and archives."""
    members, positions = committed(info.session.pk)
    return compute(info, tally(members, positions))


def public_result(result: SessionResult) -> dict[str, Any]:
    """Per round, the room's medians and nearest profile: what phones see once it is revealed, and keep.

    A slider with fewer than MIN_GROUP_SHOWN answers has no median here, as in the phone's PDF: with two
    answers, one's own and the median would give the other's (2 * median - own).
    """
    return {
        str(round): {
            "medians": {k: s.median if s.n >= settings.MIN_GROUP_SHOWN else None for k, s in data.summaries.items()},
            "best": data.best,
        }
        for round, data in result.rounds.items()
    }


def group_table(info: SessionInfo, result: SessionResult) -> list[dict[str, Any]]:
    """Per group: its size, the summary per slider, and its nearest profile."""
    profiles = {p.key: p for p in info.profiles}
    return [
        {
            "group": g,
            "cells": [(s, g.result.summaries[s.key]) for s in info.sliders],
            "best": profiles[g.result.best] if g.result.best else None,
        }
        for g in result.groups
    ]
