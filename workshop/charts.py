"""Plot geometry: where dots, bars, the median and the middle half go on a slider's 0..100 axis.

One frame and one row shape for every plot the app draws: the control panel,
the screen, the results page and its SVG downloads, and the archives. Pure
Python; the templates turn rows into SVG (templates/workshop/_plot.html).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workshop.live import ROOM, group_scope
from workshop.stats import MAX_VALUE, Summary

if TYPE_CHECKING:
    from workshop.aggregates import SessionResult
    from workshop.session_info import SessionInfo

# Up to this many positions a slider is drawn as one dot per person; beyond it, as bars.
DOTS_UP_TO = 60
PLOT_WIDTH = 1000
PLOT_MARGIN = 20
PLOT_HEIGHT = 120
DOT_SIZE = 30
BAR_BINS = 20


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    r: float


def x_of(value: float) -> float:
    return PLOT_MARGIN + value * (PLOT_WIDTH - 2 * PLOT_MARGIN) / MAX_VALUE


def _x(value: float | None) -> float | None:
    return None if value is None else round(x_of(value), 1)


def frame() -> dict[str, float]:
    """The plot's canvas: width, height and the x of 0, 50 and 100."""
    return {"width": PLOT_WIDTH, "height": PLOT_HEIGHT, "left": x_of(0), "right": x_of(MAX_VALUE), "mid": x_of(50)}


def _columns(counts: Sequence[int]) -> dict[int, int]:
    columns: dict[int, int] = {}
    for value, count in enumerate(counts):
        if count:
            columns[value // 2] = columns.get(value // 2, 0) + count
    return columns


def dot_size(plots: Sequence[Sequence[int]]) -> float:
    """One dot size for every plot of a view, so that the tallest stack of any of them fits: dots that
    changed size from slider to slider read as different numbers of people."""
    tallest = max(
        (max(_columns(counts).values(), default=0) for counts in plots if sum(counts) <= DOTS_UP_TO), default=0
    )
    return min(DOT_SIZE, PLOT_HEIGHT / tallest) if tallest else DOT_SIZE


def dots(counts: Sequence[int], size: float | None = None) -> list[Dot]:
    """One dot per position, stacked in columns two points wide, shrinking when a stack grows tall
    (or `size` across a view: dot_size)."""
    columns = _columns(counts)
    if not columns:
        return []
    size = min(size or DOT_SIZE, PLOT_HEIGHT / max(columns.values()))
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


def bars(counts: Sequence[int]) -> str:
    """Past DOTS_UP_TO: a histogram of BAR_BINS bins, each as tall as its share of the tallest, as one SVG path.

    One path instead of a rect per bin: the live view redraws this several times a second for every slider.
    """
    width = 100 / BAR_BINS
    totals = [sum(counts[int(i * width) : int((i + 1) * width)]) for i in range(BAR_BINS)]
    totals[-1] += counts[MAX_VALUE]
    tallest = max(totals) or 1
    parts = []
    for i, total in enumerate(totals):
        if not total:
            continue
        height = round(PLOT_HEIGHT * total / tallest, 1)
        left, right = round(x_of(i * width) + 1, 1), round(x_of((i + 1) * width) - 1, 1)
        parts.append(f"M{left} {round(PLOT_HEIGHT - height, 1)}H{right}v{height}H{left}z")
    return "".join(parts)


def band(summary: Summary) -> dict[str, float | None]:
    """The median line and the middle-half band of a summary, in plot coordinates."""
    if summary.q1 is None or summary.q3 is None:
        return {"median_x": _x(summary.median), "q1_x": None, "iqr_width": None}
    return {
        "median_x": _x(summary.median),
        "q1_x": _x(summary.q1),
        "iqr_width": round(x_of(summary.q3) - x_of(summary.q1), 1),
    }


def plot_row(
    *,
    slider: Any,
    counts: Sequence[int],
    summary: Summary,
    abstained: int,
    before: float | None = None,
    show_positions: bool = True,
    size: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """What one slider's plot draws: dots (or bars past DOTS_UP_TO), median, middle half, round-1 marker."""
    many = summary.n > DOTS_UP_TO
    return {
        "slider": slider,
        "summary": summary,
        "abstained": abstained,
        "dots": dots(counts, size) if show_positions and not many else [],
        "bars": bars(counts) if show_positions and many else "",
        **band(summary),
        "before_x": _x(before),
        "before": before,
        **extra,
    }


def plot_rows(info: SessionInfo, result: SessionResult, number: int, scope: str = ROOM) -> list[dict[str, Any]]:
    """Per slider: what its plot draws, for round `number` and one scope (the room or a group)."""
    session = info.session
    if scope == ROOM:
        data = result.rounds[number]
    else:
        data = next(g.result for g in result.groups if group_scope(g.id) == scope)
    previous = result.rounds.get(1) if number == 2 and scope == ROOM else None
    size = dot_size([result.snapshot.counts_for(number, slider.key, scope) for slider in info.sliders])
    return [
        plot_row(
            slider=slider,
            counts=result.snapshot.counts_for(number, slider.key, scope),
            summary=data.summaries[slider.key],
            abstained=data.abstained[slider.key],
            before=previous.summaries[slider.key].median if previous else None,
            open=info.may_place(slider.key),
            visible=session.results_visible(slider.key),
            size=size,
        )
        for slider in info.sliders
    ]


# A standalone chart (templates/workshop/chart.svg) has no text layout of its own: SVG text never
# wraps. These widths are a little wider than Arial's and DejaVu's average glyphs, so that a line
# measured here never runs past its box in a browser (tests/test_charts.py renders and measures).
CHART_WIDTH = 1000
CHART_SIDE = 40
CHAR_WIDTH = {False: 0.58, True: 0.66}  # em per character, regular and bold


def wrap(text: str, *, size: float, width: float, bold: bool = False) -> list[str]:
    """`text` in lines no wider than `width` at font `size`: broken between words, a word too long for a line
    broken inside it."""
    most = max(1, int(width / (size * CHAR_WIDTH[bold])))
    lines: list[str] = []
    line = ""
    for word in text.split():
        while len(word) > most:
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:most])
            word = word[most:]
        if not line:
            line = word
        elif len(line) + 1 + len(word) <= most:
            line += " " + word
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines or [""]


def chart_layout(*, label: str, subtitle: str, stats: str, left: str, right: str, legend: str) -> dict[str, Any]:
    """Where each line of a standalone chart goes: heading, subtitle and numbers above the plot, the poles and
    the scale under it, the legend last; the chart grows as tall as its texts need."""
    full = CHART_WIDTH - 2 * CHART_SIDE
    y = 12.0
    blocks: dict[str, list[dict[str, Any]]] = {}

    def place(name: str, text: str, *, size: float, width: float = full, bold: bool = False, gap: float = 0) -> None:
        nonlocal y
        y += gap
        blocks[name] = []
        for line in wrap(text, size=size, width=width, bold=bold):
            y += size * 1.25
            blocks[name].append({"text": line, "y": round(y, 1)})

    place("heading", label, size=28, bold=True)
    place("subtitle", subtitle, size=18, gap=4)
    place("stats", stats, size=18, gap=4)
    plot_y = round(y + 8, 1)
    y = plot_y + 170  # the plot's own height (templates/workshop/_plot.html, standalone)
    scale_y = round(y + 6, 1)
    y += 14
    half = full / 2 - 20
    top = y
    place("left", "← " + left, size=18, width=half, gap=8)
    bottom = y
    y = top
    place("right", right + " →", size=18, width=half, gap=8)
    y = max(y, bottom)
    place("legend", legend, size=14, gap=10)
    return {
        **blocks,
        "plot_y": plot_y,
        "scale_y": scale_y,
        "scale": [{"x": x_of(v), "text": str(v)} for v in (0, 50, MAX_VALUE)],
        "height": round(y + 16),
        "side": CHART_SIDE,
        "end": CHART_WIDTH - CHART_SIDE,
    }
