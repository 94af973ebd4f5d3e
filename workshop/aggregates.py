"""From a snapshot of counts to the statistics and nearest profiles of a session, per round and group.

The same computation serves the live dashboard (a snapshot of the live store)
and the committed results and archives (`committed_result`: a tally of stored
rows, no store and no event loop).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workshop.live import ROOM, Snapshot, group_scope, tally
from workshop.profiles import ProfileMatch, match_profiles
from workshop.session_info import SessionInfo, committed
from workshop.stats import Summary, summarize_counts


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
    round = info.session.round
    rounds = {r: _round_result(info, snapshot, r, ROOM) for r in range(1, round + 1)}
    groups = [
        GroupResult(
            id=group_id,
            name=name,
            size=snapshot.group_sizes.get(group_id, 0),
            result=_round_result(info, snapshot, round, group_scope(group_id)),
        )
        for group_id, name in info.groups
    ]
    return SessionResult(snapshot=snapshot, round=round, rounds=rounds, groups=groups)


def committed_result(info: SessionInfo) -> SessionResult:
    """Statistics over what was committed (not live moves): results pages, exports and archives."""
    members, positions = committed(info.session.pk)
    return compute(info, tally(members, positions))


def public_result(result: SessionResult) -> dict[str, Any]:
    """Per round, the room's medians and nearest profile: what phones see once it is revealed."""
    return {
        str(round): {"medians": {k: s.median for k, s in data.summaries.items()}, "best": data.best}
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
