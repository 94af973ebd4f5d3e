"""The one render path of the live view: snapshot → compute → what this viewer may see → render.

The control panel and screen pages (views) and the dashboard socket
(consumers) both draw from `live_context`; the socket also sends the
`aggregate` message (docs/protocol.md). The screen is projected, so what it
gets is decided once, in `viewed`: the one redaction rule. The template
context and the message's JSON statistics are both drawn from that view and
never from the computed result, so neither can carry more than the rule lets
through.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import segno
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import mark_safe

from workshop import charts, guard, live_state, reference_view, workflow
from workshop.aggregates import RoundResult, SessionResult, compute
from workshop.live import ROOM, Snapshot, group_scope
from workshop.session_info import SessionInfo
from workshop.stats import EMPTY, Summary

if TYPE_CHECKING:
    from workshop.models import Slider
    from workshop.profiles import ProfileMatch
    from workshop.references import Comparison

CONTROL_LIVE = "workshop/dashboard.html#live"
SCREEN_LIVE = "workshop/screen.html#live"
# The templates' indentation is a tenth of every update and draws nothing: whitespace with a line break in it
# renders as one space, so one line break is sent instead (the live partials have no <pre> or <textarea>).
INDENTATION = re.compile(r"\s*\n\s*")


def live_result(info: SessionInfo) -> SessionResult:
    return compute(info, live_state.snapshot(info))


# What one viewer may see ------------------------------------------------------


@dataclass(frozen=True)
class SliderView:
    """One slider for one viewer. Without `shown`, only how many placed it: no statistic, position or marker."""

    slider: Slider
    open: bool
    on_screen: bool  # the facilitator made its results visible to the room
    shown: bool  # this viewer gets its statistics (the control panel always, the screen when on_screen)
    summary: Summary  # only `n` when not shown
    abstained: int
    counts: Sequence[int]  # positions per value 0..100, for the dots; empty when not shown
    before: float | None  # round 1's median, in round 2 (the room only); None when not shown


@dataclass(frozen=True)
class GroupView:
    id: int
    name: str
    size: int
    cells: tuple[tuple[Slider, Summary], ...]  # per slider; only `n` where not shown
    best: str | None  # its nearest profile, once revealed to this viewer
    too_small: frozenset[str] = frozenset()  # sliders with fewer than MIN_GROUP_SHOWN answers: `n` only
    match: float | None = None  # how well `best` matches (percent), once revealed


@dataclass(frozen=True)
class LiveView:
    """Everything a dashboard draws or is sent, already redacted for its viewer."""

    round: int
    joined: int
    connected: int
    sliders: tuple[SliderView, ...]
    groups: tuple[GroupView, ...]
    screen_group: GroupView | None
    screen_group_sliders: tuple[SliderView, ...]
    matches: tuple[ProfileMatch, ...]  # current round, profile order; empty unless revealed
    best_by_round: dict[int, str | None]  # empty unless revealed
    comparison: Comparison | None = None  # the room against its reference: only in "compare" after the reveal


def _counted(summary: Summary) -> Summary:
    """A count without its statistics."""
    return replace(EMPTY, n=summary.n)


def viewed(info: SessionInfo, result: SessionResult, *, screen: bool) -> LiveView:
    """The one redaction rule. The control panel sees everything. The screen (projected: a screen-shared
    laptop must leak nothing) gets a slider's statistics only while its results are visible, and profiles
    only once the profile is revealed; everything else only as counts."""
    session = info.session
    revealed = session.profile_revealed or not screen

    def shows(key: str) -> bool:
        return session.results_visible(key) or not screen

    def sliders(data: RoundResult, scope: str, before: RoundResult | None) -> tuple[SliderView, ...]:
        # The round-1 marker: in round 2, the room's round 1, or the group's when it existed then.
        rows = []
        for slider in info.sliders:
            key, shown = slider.key, shows(slider.key)
            summary = data.summaries[key]
            rows.append(
                SliderView(
                    slider=slider,
                    open=info.may_place(key),
                    on_screen=session.results_visible(key),
                    shown=shown,
                    summary=summary if shown else _counted(summary),
                    abstained=data.abstained[key],
                    counts=result.snapshot.counts_for(result.round, key, scope) if shown else (),
                    before=before.summaries[key].median if before is not None and shown else None,
                )
            )
        return tuple(rows)

    groups = tuple(
        GroupView(
            id=g.id,
            name=g.name,
            size=g.size,
            cells=tuple(
                (s, g.result.summaries[s.key] if shows(s.key) else _counted(g.result.summaries[s.key]))
                for s in info.sliders
            ),
            best=g.result.best if revealed else None,
            too_small=g.too_small,
            match=next((m.match for m in g.result.matches if m.key == g.result.best), None) if revealed else None,
        )
        for g in result.groups
    )
    on_screen = next((g for g in result.groups if g.id == session.screen_group_id), None)
    # One group on the screen is that group all the way: its own profile, match and runner-up.
    focus = on_screen.result if on_screen is not None and session.screen == "group" else result.current
    if on_screen is not None and session.screen == "group":
        by_round = {result.round: on_screen.result.best}
        if on_screen.before is not None:
            by_round[1] = on_screen.before.best
    else:
        by_round = {r: rr.best for r, rr in result.rounds.items()}
    return LiveView(
        round=result.round,
        joined=result.snapshot.joined,
        connected=result.snapshot.connected,
        sliders=sliders(result.current, ROOM, result.rounds[1] if result.round == 2 else None),
        groups=groups,
        screen_group=next((g for g in groups if on_screen and g.id == on_screen.id), None),
        screen_group_sliders=sliders(on_screen.result, group_scope(on_screen.id), on_screen.before)
        if on_screen
        else (),
        matches=tuple(focus.matches) if revealed else (),
        best_by_round=by_round if revealed else {},
        comparison=_comparison(info, result) if session.profile_revealed and session.screen == "compare" else None,
    )


def _comparison(info: SessionInfo, result: SessionResult) -> Comparison | None:
    """The room (never one group) against its reference, in the current round."""
    medians = {k: s.median for k, s in result.current.summaries.items()}
    before = {k: s.median for k, s in result.rounds[1].summaries.items()} if result.round == 2 else None
    return reference_view.comparison(
        info.session.reference_copy,
        round=result.round,
        sliders=info.sliders,
        medians=medians,
        before=before,
        profile=result.current.best,
    )


# The view → what the templates draw ---------------------------------------------


def join_context(
    join_url: str, groups: tuple[tuple[int, str], ...] = (), qrs: dict[str, str] | None = None, *, code: str
) -> dict[str, Any]:
    """The join link as the screen shows it: QR code (server-rendered SVG), short host and path, and per
    group its own link and QR code (a phone that scans it joins that group).

    `qrs` caches drawn codes across renders (a dashboard socket keeps one).
    """
    qrs = {} if qrs is None else qrs

    def qr(url: str) -> str:
        if url not in qrs:
            qrs[url] = mark_safe(
                segno.make(url, error="m").svg_inline(scale=8, border=2, dark="#000", light="#fff", omitsize=True)
            )
        return qrs[url]

    short = join_url.split("://", 1)[-1].rstrip("/")
    host, _, path = short.partition("/")
    # The QR codes' links prove that whoever follows them saw the code (guard.proof): a room joins at
    # once even while someone behind the venue's address guesses codes. The typed address stays short.
    link = guard.with_proof(join_url, code)
    return {
        "join_url": join_url,
        "qr_link": link,
        "short_host": host,
        "short_path": "/" + path,
        "qr": qr(link),
        "group_joins": [
            {
                "id": group,
                "name": name,
                "join_url": (url := guard.with_proof(f"{join_url}?g={group}", code)),
                "qr": qr(url),
            }
            for group, name in groups
        ],
    }


def _plot_rows(rows: tuple[SliderView, ...]) -> list[dict[str, Any]]:
    size = charts.dot_size([row.counts for row in rows if row.shown])
    return [_plot_row(row, size) for row in rows]


def _plot_row(row: SliderView, size: float | None = None) -> dict[str, Any]:
    return charts.plot_row(
        slider=row.slider,
        counts=row.counts,
        summary=row.summary,
        abstained=row.abstained,
        before=row.before,
        show_positions=row.shown,
        size=size,
        open=row.open,
        visible=row.on_screen,
    )


def view_context(info: SessionInfo, view: LiveView) -> dict[str, Any]:
    """The live partials' context, drawn from the view alone."""
    profiles = {p.key: p for p in info.profiles}
    best = view.best_by_round.get(view.round)
    ranked = sorted((m for m in view.matches if m.distance is not None), key=lambda m: m.distance or 0.0)
    session = info.session
    now = timezone.now()
    return {
        "info": info,
        "session": session,
        "timer_remaining_ms": session.timer_remaining_ms(now),
        "timer_status": workflow.timer_status(info.state, now),
        "flow": workflow.flow(info.state, now),
        "joined": view.joined,
        "connected": view.connected,
        "round": view.round,
        "sliders": _plot_rows(view.sliders),
        "screen_group": view.screen_group,
        "screen_group_rows": _plot_rows(view.screen_group_sliders),
        "groups": [
            {
                "group": g,
                "cells": list(g.cells),
                "best": profiles[g.best] if g.best else None,
                "match": round(g.match) if g.match is not None else None,
                # Too small on every slider it has answers for: the screen says so once, with its size.
                "small": bool(g.too_small) and all(s.median is None for _, s in g.cells),
            }
            for g in view.groups
        ],
        "profile_rows": [
            {"profile": profiles[m.key], "match": round(m.match or 0), "best": m.key == best} for m in ranked
        ],
        "best_profile": profiles[best] if best else None,
        "best_by_round": {r: profiles[key] if key else None for r, key in view.best_by_round.items()},
        "plot": charts.frame(),
        "compare": reference_view.context(
            session.reference_copy or {}, view.comparison, sliders=info.sliders, profiles=profiles
        )
        if view.comparison is not None
        else None,
    }


def live_context(info: SessionInfo, result: SessionResult, *, screen: bool = False) -> dict[str, Any]:
    """What the live partials of the control panel and the screen draw."""
    return view_context(info, viewed(info, result, screen=screen))


# The view → the JSON statistics (docs/protocol.md, `aggregate`) ----------------


def _statistics(row: SliderView) -> dict[str, Any]:
    fields: dict[str, Any] = {"key": row.slider.key, "n": row.summary.n, "abstained": row.abstained, "open": row.open}
    if row.shown:
        fields.update(row.summary.as_dict(), split=row.summary.split, before=row.before)
    return fields


def aggregate_message(info: SessionInfo, view: LiveView) -> dict[str, Any]:
    """The dashboard socket's `aggregate` message without its `html`; profile names in the active language."""
    names = {p.key: p.name for p in info.profiles}
    shown = {row.slider.key for row in view.sliders if row.shown}
    return {
        "type": "aggregate",
        "round": view.round,
        "status": info.session.status,
        "participants": view.joined,
        "connected": view.connected,
        "sliders": [_statistics(row) for row in view.sliders],
        "profiles": [
            {"key": m.key, "name": names[m.key], "distance": m.distance, "match": m.match} for m in view.matches
        ],
        "best": view.best_by_round.get(view.round),
        "best_before": view.best_by_round.get(1) if view.round == 2 else None,
        "groups": [
            {
                "id": g.id,
                "name": g.name,
                "participants": g.size,
                "sliders": {
                    s.key: {"n": c.n, "median": c.median} if s.key in shown and s.key not in g.too_small else {"n": c.n}
                    for s, c in g.cells
                },
                "best": g.best,
            }
            for g in view.groups
        ],
    }


# Render --------------------------------------------------------------------


def render_aggregate(
    info: SessionInfo, snapshot: Snapshot, *, language: str, screen: bool, join_url: str, qrs: dict[str, str]
) -> dict[str, Any]:
    """The `aggregate` message with its `html` (the same partial the page rendered, now current): both from
    one view, redacted once for this viewer."""
    view = viewed(info, compute(info, snapshot), screen=screen)
    with translation.override(language):
        message = aggregate_message(info, view)
        context = {**view_context(info, view), **join_context(join_url, info.groups, qrs, code=info.session.code)}
        message["html"] = INDENTATION.sub("\n", render_to_string(SCREEN_LIVE if screen else CONTROL_LIVE, context))
    return message
