"""From a live snapshot to the `aggregate` message and to what the control panel and screen draw."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import segno
from django.utils import timezone
from django.utils.safestring import mark_safe

from workshop.live import ROOM, Snapshot, group_scope
from workshop.profiles import ProfileMatch, match_profiles
from workshop.stats import MAX_VALUE, Summary, summarize_counts

if TYPE_CHECKING:
    from workshop.services import SessionInfo

# Up to this many positions a slider is drawn as one dot per person; beyond it, as bars.
DOTS_UP_TO = 60
PLOT_WIDTH = 1000
PLOT_MARGIN = 20
PLOT_HEIGHT = 120
DOT_SIZE = 30
BAR_BINS = 20


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
class LiveResult:
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


def compute(info: SessionInfo, snapshot: Snapshot) -> LiveResult:
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
    return LiveResult(snapshot=snapshot, round=round, rounds=rounds, groups=groups)


def aggregate_message(info: SessionInfo, result: LiveResult) -> dict[str, Any]:
    """The dashboard socket's `aggregate` message; profile names in the active language."""
    names = {p.key: p.name for p in info.profiles}
    session = info.session
    current = result.current
    return {
        "type": "aggregate",
        "round": result.round,
        "status": session.status,
        "participants": result.snapshot.joined,
        "connected": result.snapshot.connected,
        "sliders": [
            {
                "key": key,
                **s.as_dict(),
                "split": s.split,
                "abstained": current.abstained[key],
                "open": session.slider_open(key),
            }
            for key, s in current.summaries.items()
        ],
        "profiles": [
            {"key": m.key, "name": names[m.key], "distance": m.distance, "match": m.match} for m in current.matches
        ],
        "best": current.best,
        "rounds": {
            str(r): {"medians": {k: s.median for k, s in rr.summaries.items()}, "best": rr.best}
            for r, rr in result.rounds.items()
        },
        "groups": [
            {
                "id": g.id,
                "name": g.name,
                "participants": g.size,
                "sliders": {k: {"n": s.n, "median": s.median} for k, s in g.result.summaries.items()},
                "best": g.result.best,
            }
            for g in result.groups
        ],
    }


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    r: float


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: int


def x_of(value: float) -> float:
    return PLOT_MARGIN + value * (PLOT_WIDTH - 2 * PLOT_MARGIN) / MAX_VALUE


def _x(value: float | None) -> float | None:
    return None if value is None else round(x_of(value), 1)


def dots(counts: list[int]) -> list[Dot]:
    """One dot per position, stacked in columns two points wide, shrinking when a stack grows tall."""
    columns: dict[int, int] = {}
    for value, count in enumerate(counts):
        if count:
            columns[value // 2] = columns.get(value // 2, 0) + count
    if not columns:
        return []
    size = min(DOT_SIZE, PLOT_HEIGHT / max(columns.values()))
    result = []
    for value, count in enumerate(counts):
        column = value // 2
        for _ in range(count):
            columns[column] -= 1
            level = columns[column]
            result.append(
                Dot(x=round(x_of(value), 1), y=round(PLOT_HEIGHT - (level + 0.5) * size, 1), r=round(size * 0.42, 1))
            )
    return result


def bars(counts: list[int]) -> list[Bar]:
    width = 100 / BAR_BINS
    totals = [sum(counts[int(i * width) : int((i + 1) * width)]) for i in range(BAR_BINS)]
    totals[-1] += counts[MAX_VALUE]
    tallest = max(totals) or 1
    result = []
    for i, total in enumerate(totals):
        height = PLOT_HEIGHT * total / tallest
        left, right = x_of(i * width), x_of((i + 1) * width)
        result.append(
            Bar(
                x=round(left + 1, 1),
                y=round(PLOT_HEIGHT - height, 1),
                width=round(right - left - 2, 1),
                height=round(height, 1),
                count=total,
            )
        )
    return result


def plot_rows(info: SessionInfo, result: LiveResult, number: int, scope: str = ROOM) -> list[dict[str, Any]]:
    """Per slider: what its dot plot draws, for round `number` and one scope (the room or a group)."""
    session = info.session
    if scope == ROOM:
        data = result.rounds[number]
    else:
        data = next(g.result for g in result.groups if group_scope(g.id) == scope)
    previous = result.rounds.get(1) if number == 2 and scope == ROOM else None
    rows = []
    for slider in info.sliders:
        counts = result.snapshot.counts_for(number, slider.key, scope)
        summary = data.summaries[slider.key]
        many = summary.n > DOTS_UP_TO
        before = previous.summaries[slider.key].median if previous else None
        rows.append(
            {
                "slider": slider,
                "summary": summary,
                "abstained": data.abstained[slider.key],
                "open": session.slider_open(slider.key),
                "visible": session.results_visible(slider.key),
                "dots": [] if many else dots(counts),
                "bars": bars(counts) if many else [],
                "median_x": _x(summary.median),
                "q1_x": _x(summary.q1),
                "iqr_width": None if summary.q1 is None else round(x_of(summary.q3) - x_of(summary.q1), 1),  # type: ignore[arg-type]
                "before_x": _x(before),
                "before": before,
            }
        )
    return rows


def join_context(join_url: str) -> dict[str, Any]:
    """The join link as the screen shows it: QR code (server-rendered SVG), short host and path."""
    short = join_url.split("://", 1)[-1].rstrip("/")
    host, _, path = short.partition("/")
    qr = segno.make(join_url, error="m").svg_inline(scale=8, border=2, dark="#000", light="#fff", omitsize=True)
    return {"join_url": join_url, "short_host": host, "short_path": "/" + path, "qr": mark_safe(qr)}


def dashboard_context(info: SessionInfo, result: LiveResult) -> dict[str, Any]:
    """What the live partials of the control panel and the screen draw."""
    profiles = {p.key: p for p in info.profiles}
    current = result.current
    ranked = sorted((m for m in current.matches if m.distance is not None), key=lambda m: m.distance or 0.0)
    session = info.session
    screen_group = next((g for g in result.groups if g.id == session.screen_group_id), None)
    remaining = None
    if session.timer_ends_at is not None:
        remaining = max(0, int((session.timer_ends_at - timezone.now()).total_seconds() * 1000))
    return {
        "info": info,
        "session": session,
        "timer_remaining_ms": remaining,
        "joined": result.snapshot.joined,
        "connected": result.snapshot.connected,
        "round": result.round,
        "sliders": plot_rows(info, result, result.round),
        "screen_group": screen_group,
        "screen_group_rows": plot_rows(info, result, result.round, group_scope(screen_group.id))
        if screen_group
        else [],
        "groups": [
            {
                "group": g,
                "cells": [(s, g.result.summaries[s.key]) for s in info.sliders],
                "best": profiles[g.result.best] if g.result.best else None,
            }
            for g in result.groups
        ],
        "profile_rows": [
            {"profile": profiles[m.key], "match": round(m.match or 0), "best": m.key == current.best} for m in ranked
        ],
        "best_profile": profiles[current.best] if current.best else None,
        "best_by_round": {r: profiles[rr.best] if rr.best else None for r, rr in result.rounds.items()},
        "plot": {
            "width": PLOT_WIDTH,
            "height": PLOT_HEIGHT,
            "left": x_of(0),
            "right": x_of(MAX_VALUE),
            "mid": x_of(50),
        },
    }
