"""From a live snapshot to the `aggregate` message and to what the dashboard draws."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workshop.live import Snapshot
from workshop.profiles import ProfileMatch, match_profiles
from workshop.services import SessionInfo
from workshop.stats import MAX_VALUE, Summary, summarize_counts

# Up to this many positions a slider is drawn as one dot per person; beyond it, as bars.
DOTS_UP_TO = 60
PLOT_WIDTH = 1000
PLOT_MARGIN = 20
PLOT_HEIGHT = 120
DOT_SIZE = 30
BAR_BINS = 20


@dataclass(frozen=True)
class LiveResult:
    snapshot: Snapshot
    summaries: dict[str, Summary]
    matches: list[ProfileMatch]
    best: str | None


def compute(info: SessionInfo, snapshot: Snapshot) -> LiveResult:
    summaries = {key: summarize_counts(snapshot.counts[key]) for key in info.slider_keys}
    matches, best = match_profiles({key: s.median for key, s in summaries.items()}, info.targets)
    return LiveResult(snapshot=snapshot, summaries=summaries, matches=matches, best=best)


def aggregate_message(info: SessionInfo, result: LiveResult) -> dict[str, Any]:
    """The dashboard socket's `aggregate` message; profile names in the active language."""
    names = {p.key: p.name for p in info.profiles}
    return {
        "type": "aggregate",
        "participants": result.snapshot.joined,
        "connected": result.snapshot.connected,
        "sliders": [{"key": key, **s.as_dict(), "split": s.split} for key, s in result.summaries.items()],
        "profiles": [
            {
                "key": m.key,
                "name": names[m.key],
                "distance": m.distance,
                "match": m.match,
            }
            for m in result.matches
        ],
        "best": result.best,
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
                Dot(
                    x=round(x_of(value), 1),
                    y=round(PLOT_HEIGHT - (level + 0.5) * size, 1),
                    r=round(size * 0.42, 1),
                )
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


def dashboard_context(info: SessionInfo, result: LiveResult) -> dict[str, Any]:
    """What the dashboard's live partial draws."""
    sliders = []
    for slider in info.sliders:
        counts = result.snapshot.counts[slider.key]
        summary = result.summaries[slider.key]
        many = summary.n > DOTS_UP_TO
        sliders.append(
            {
                "slider": slider,
                "summary": summary,
                "dots": [] if many else dots(counts),
                "bars": bars(counts) if many else [],
                "median_x": _x_or_none(summary.median),
                "q1_x": _x_or_none(summary.q1),
                "iqr_width": None if summary.q1 is None else round(x_of(summary.q3) - x_of(summary.q1), 1),  # type: ignore[arg-type]
            }
        )
    profiles = {p.key: p for p in info.profiles}
    ranked = sorted(
        (m for m in result.matches if m.distance is not None),
        key=lambda m: m.distance or 0.0,
    )
    return {
        "info": info,
        "session": info.session,
        "joined": result.snapshot.joined,
        "connected": result.snapshot.connected,
        "sliders": sliders,
        "profile_rows": [
            {
                "profile": profiles[m.key],
                "match": round(m.match or 0),
                "best": m.key == result.best,
            }
            for m in ranked
        ],
        "best_profile": profiles[result.best] if result.best else None,
        "plot": {
            "width": PLOT_WIDTH,
            "height": PLOT_HEIGHT,
            "left": x_of(0),
            "right": x_of(MAX_VALUE),
            "mid": x_of(50),
        },
    }


def _x_or_none(value: float | None) -> float | None:
    return None if value is None else round(x_of(value), 1)
