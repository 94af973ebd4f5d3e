"""The one render path of the live view: snapshot → compute → render.

The control panel and screen pages (views) and the dashboard socket
(consumers) both draw from `live_context`; the socket also sends the
`aggregate` message (docs/protocol.md). The screen is projected, so its
context and message carry only what the room may see now (`screen=True`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import segno
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import mark_safe

from workshop import charts, live_state, workflow
from workshop.aggregates import SessionResult, compute, group_table
from workshop.live import Snapshot, group_scope
from workshop.session_info import SessionInfo
from workshop.stats import EMPTY, Summary

CONTROL_LIVE = "workshop/dashboard.html#live"
SCREEN_LIVE = "workshop/screen.html#live"


def live_result(info: SessionInfo) -> SessionResult:
    return compute(info, live_state.snapshot(info))


# Compute → what the templates draw ------------------------------------------


def join_context(
    join_url: str, groups: tuple[tuple[int, str], ...] = (), qrs: dict[str, str] | None = None
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
    return {
        "join_url": join_url,
        "short_host": host,
        "short_path": "/" + path,
        "qr": qr(join_url),
        "group_joins": [
            {"id": group, "name": name, "join_url": f"{join_url}?g={group}", "qr": qr(f"{join_url}?g={group}")}
            for group, name in groups
        ],
    }


def live_context(info: SessionInfo, result: SessionResult, *, screen: bool = False) -> dict[str, Any]:
    """What the live partials of the control panel and the screen draw."""
    profiles = {p.key: p for p in info.profiles}
    current = result.current
    ranked = sorted((m for m in current.matches if m.distance is not None), key=lambda m: m.distance or 0.0)
    session = info.session
    now = timezone.now()
    screen_group = next((g for g in result.groups if g.id == session.screen_group_id), None)
    context = {
        "info": info,
        "session": session,
        "timer_remaining_ms": session.timer_remaining_ms(now),
        "timer_status": workflow.timer_status(info.state, now),
        "flow": workflow.flow(info.state, now),
        "joined": result.snapshot.joined,
        "connected": result.snapshot.connected,
        "round": result.round,
        "sliders": charts.plot_rows(info, result, result.round),
        "screen_group": screen_group,
        "screen_group_rows": charts.plot_rows(info, result, result.round, group_scope(screen_group.id))
        if screen_group
        else [],
        "groups": group_table(info, result),
        "profile_rows": [
            {"profile": profiles[m.key], "match": round(m.match or 0), "best": m.key == current.best} for m in ranked
        ],
        "best_profile": profiles[current.best] if current.best else None,
        "best_by_round": {r: profiles[rr.best] if rr.best else None for r, rr in result.rounds.items()},
        "plot": charts.frame(),
    }
    return _for_screen(session, context) if screen else context


def _blank(summary: Summary) -> Summary:
    """A count without its statistics."""
    return replace(EMPTY, n=summary.n)


def _for_screen(session: Any, context: dict[str, Any]) -> dict[str, Any]:
    """Leave out what the room may not see yet: a screen-shared projector laptop leaks nothing."""

    def redact(row: dict[str, Any]) -> dict[str, Any]:
        if row["visible"]:
            return row
        blank = _blank(row["summary"])
        return {**row, "summary": blank, "dots": [], "bars": "", **charts.band(blank), "before_x": None, "before": None}

    context["sliders"] = [redact(row) for row in context["sliders"]]
    context["screen_group_rows"] = [redact(row) for row in context["screen_group_rows"]]
    context["groups"] = [
        {
            **g,
            "cells": [(s, summary if session.results_visible(s.key) else _blank(summary)) for s, summary in g["cells"]],
            "best": g["best"] if session.profile_revealed else None,
        }
        for g in context["groups"]
    ]
    if not session.profile_revealed:
        context.update(profile_rows=[], best_profile=None, best_by_round={})
    return context


# Render --------------------------------------------------------------------


def aggregate_message(info: SessionInfo, result: SessionResult, *, screen: bool = False) -> dict[str, Any]:
    """The dashboard socket's `aggregate` message; profile names in the active language."""
    names = {p.key: p.name for p in info.profiles}
    session = info.session
    current = result.current
    shown = session.results_visible if screen else lambda key: True
    revealed = session.profile_revealed or not screen
    return {
        "type": "aggregate",
        "round": result.round,
        "status": session.status,
        "participants": result.snapshot.joined,
        "connected": result.snapshot.connected,
        "sliders": [
            {
                "key": key,
                **(s.as_dict() if shown(key) else {"n": s.n}),
                **({"split": s.split} if shown(key) else {}),
                "abstained": current.abstained[key],
                "open": info.may_place(key),
            }
            for key, s in current.summaries.items()
        ],
        "profiles": [
            {"key": m.key, "name": names[m.key], "distance": m.distance, "match": m.match} for m in current.matches
        ]
        if revealed
        else [],
        "best": current.best if revealed else None,
        "rounds": {
            str(r): {"medians": {k: s.median for k, s in rr.summaries.items()}, "best": rr.best}
            for r, rr in result.rounds.items()
        }
        if revealed
        else {},
        "groups": [
            {
                "id": g.id,
                "name": g.name,
                "participants": g.size,
                "sliders": {
                    k: {"n": s.n, "median": s.median} if shown(k) else {"n": s.n} for k, s in g.result.summaries.items()
                },
                "best": g.result.best if revealed else None,
            }
            for g in result.groups
        ],
    }


def render_aggregate(
    info: SessionInfo, snapshot: Snapshot, *, language: str, screen: bool, join_url: str, qrs: dict[str, str]
) -> dict[str, Any]:
    """The `aggregate` message with its `html`: the same partial the page rendered, now current."""
    result = compute(info, snapshot)
    with translation.override(language):
        message = aggregate_message(info, result, screen=screen)
        context = {**live_context(info, result, screen=screen), **join_context(join_url, info.groups, qrs)}
        message["html"] = render_to_string(SCREEN_LIVE if screen else CONTROL_LIVE, context)
    return message
