"""A session's committed results: the results page, CSV, JSON (docs/results-format.md) and SVG charts.

Participants appear only as per-session pseudonyms (P1, P2, ... in order of joining).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.template.defaultfilters import floatformat
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from workshop import charts
from workshop.aggregates import SessionResult, committed_result, group_table
from workshop.downloads import csv_stream
from workshop.models import Participant, Position, Session
from workshop.session_info import SessionInfo, info_for


def _numbers(session: Session) -> dict[int, int]:
    ids = Participant.objects.filter(session=session).order_by("created_at", "pk").values_list("pk", flat=True)
    return {pk: i for i, pk in enumerate(ids, start=1)}


def _pseudonyms(session: Session) -> dict[int, str]:
    return {pk: f"P{n}" for pk, n in _numbers(session).items()}


def _computed(session: Session) -> tuple[SessionInfo, SessionResult]:
    """Statistics over what was committed (not live moves), through the same code as the dashboard."""
    info = info_for(session)
    return info, committed_result(info)


def build(session: Session) -> dict[str, Any]:
    info, result = _computed(session)
    notes = {(n.slider.key, n.round): n.text for n in session.notes.select_related("slider")}
    profiles = {p.key: p for p in info.profiles}
    rounds = []
    for round, data in result.rounds.items():
        rows = charts.plot_rows(info, result, round)
        for row in rows:
            row["note"] = notes.get((row["slider"].key, round), "")
        rounds.append(
            {
                "round": round,
                "rows": rows,
                "profile": profiles[data.best] if data.best else None,
                "matches": [
                    {"profile": profiles[m.key], "match": round_match(m.match)}
                    for m in sorted(data.matches, key=lambda m: m.distance if m.distance is not None else 1e9)
                ],
            }
        )
    return {
        "info": info,
        "rounds": rounds,
        "groups": group_table(info, result),
        "joined": result.snapshot.joined,
        "plot": charts.frame(),
        "shifts": _shifts(info, result),
    }


def round_match(value: float | None) -> int | None:
    return None if value is None else round(value)


def _shifts(info: SessionInfo, result: SessionResult) -> list[dict[str, Any]]:
    if 2 not in result.rounds:
        return []
    shifts = []
    for slider in info.sliders:
        now = result.rounds[1].summaries[slider.key].median
        desired = result.rounds[2].summaries[slider.key].median
        shifts.append(
            {
                "slider": slider,
                "now": now,
                "desired": desired,
                "shift": None if now is None or desired is None else desired - now,
            }
        )
    return shifts


def too_small(session: Session) -> set[tuple[int, int]]:
    """(group, round) pairs with fewer than MIN_GROUP_SHOWN answers on some slider ("geen mening" is none):
    their members' rows carry no group, so that nobody's answers can be read off a small group's rows."""
    answers: Counter[tuple[int, int, int]] = Counter(
        Position.objects.filter(participant__session=session, participant__group__isnull=False, value__isnull=False)
        .values_list("participant__group_id", "round", "slider_id")
        .iterator(chunk_size=2000)
    )
    return {(group, round) for (group, round, _slider), n in answers.items() if n < settings.MIN_GROUP_SHOWN}


def positions(session: Session) -> Iterator[tuple[int, str, int, str, int | None]]:
    """Every committed position: participant number, group, round, slider key and value (None: "geen mening").

    A participant's group is named only on rows of rounds in which that group existed (a group
    made in round 2 was not there when round 1 was placed) and was big enough to show (too_small).
    """
    numbers = _numbers(session)
    small = too_small(session)
    groups = {pk: (name, since) for pk, name, since in session.groups.values_list("pk", "name", "created_round")}
    rows = (
        Position.objects.filter(participant__session=session)
        .order_by("participant__created_at", "participant_id", "round", "slider__order")
        .values_list("participant_id", "participant__group_id", "round", "slider__key", "value")
        .iterator(chunk_size=2000)
    )
    for participant, group, round, slider, value in rows:
        name, since = groups.get(group, ("", 1))
        yield numbers[participant], name if round >= since and (group, round) not in small else "", round, slider, value


def _rows(session: Session) -> Iterator[tuple[str, str, int, str, int | None]]:
    for number, group, round, slider, value in positions(session):
        yield f"P{number}", group, round, slider, value


CSV_HEADER = ["participant", "group", "round", "slider", "value"]


# The two CSV dialects (docs/results-format.md): the international one, and the one a Dutch Excel
# opens as columns (its list separator is the semicolon, its decimal mark the comma).
CSV_DIALECTS = {"international": ",", "excel-nl": ";"}


def csv_rows(session: Session, *, dialect: str = "international") -> Iterator[str]:
    """One row per participant pseudonym, round and slider; an empty value is "geen mening"."""
    delimiter = CSV_DIALECTS[dialect]
    rows = (
        [pseudonym, group, round, slider, "" if value is None else csv_number(value, dialect=dialect)]
        for pseudonym, group, round, slider, value in _rows(session)
    )
    return csv_stream(itertools.chain([CSV_HEADER], rows), bom=True, delimiter=delimiter)


def csv_number(value: float, *, dialect: str) -> str:
    """A number as the dialect writes it: a decimal comma for a Dutch Excel (positions are whole, but a
    future column of medians must not turn 38.5 into a date or 385)."""
    text = str(value)
    return text.replace(".", ",") if dialect == "excel-nl" else text


def as_json(session: Session) -> dict[str, Any]:
    info, result = _computed(session)
    notes = {(n.slider.key, n.round): n.text for n in session.notes.select_related("slider")}
    profiles = {p.key: p for p in info.profiles}
    pseudonyms = _pseudonyms(session)
    small = {group for group, _round in too_small(session)}
    group_of = {pk: g for pk, g in session.participants.values_list("pk", "group_id") if g not in small}
    group_names = dict(info.groups)

    def profile(key: str | None) -> dict[str, Any] | None:
        return None if key is None else {"key": key, "name": profiles[key].name}

    return {
        "format": "schuifoefening-results/1",
        "session": {
            "code": session.code,
            "title": session.title,
            "exercise": {"slug": session.exercise.slug, "version": session.exercise.version},
            # The day the room had it, in the site's time zone: after midnight in Amsterdam, not yesterday's UTC date.
            "created": timezone.localdate(session.created_at).isoformat(),
            "closed": timezone.localdate(session.closed_at).isoformat() if session.closed_at else None,
            "status": session.status,
            "rounds": session.round,
        },
        "sliders": [{"key": s.key, "label": s.label, "left": s.left, "right": s.right} for s in info.sliders],
        "groups": [
            {"id": pk, "name": name, "created_round": since}
            for pk, name, since in session.groups.values_list("pk", "name", "created_round")
        ],
        "participants": [
            {"participant": name, "group": group_names.get(group_of.get(pk))} for pk, name in pseudonyms.items()
        ],
        "rounds": [
            {
                "round": round,
                "sliders": [
                    {
                        "key": key,
                        **rounded(summary.as_dict()),
                        "split": summary.split,
                        "abstained": data.abstained[key],
                        "note": notes.get((key, round), ""),
                    }
                    for key, summary in data.summaries.items()
                ],
                "profile": profile(data.best),
                "matches": [{"key": m.key, "match": one_decimal(m.match)} for m in data.matches],
            }
            for round, data in result.rounds.items()
        ],
        "groups_result": [
            {
                "group": g.name,
                "participants": g.size,
                "round": result.round,
                "medians": {k: one_decimal(s.median) for k, s in g.result.summaries.items()},
                "counts": {k: s.n for k, s in g.result.summaries.items()},
                "profile": profile(g.result.best),
            }
            for g in result.groups
        ],
        "positions": [
            {"participant": p, "group": g or None, "round": r, "slider": s, "value": v}
            for p, g, r, s, v in _rows(session)
        ],
    }


def one_decimal(value: float | None) -> float | None:
    """As docs/results-format.md promises: one decimal (a median of whole positions stays whole)."""
    return None if value is None else round(value, 1)


def rounded(stats: dict[str, Any]) -> dict[str, Any]:
    """A summary's numbers for the JSON: one decimal, the consensus (0..1) two."""
    return {
        key: (round(value, 2) if key == "consensus" else one_decimal(value)) if isinstance(value, float) else value
        for key, value in stats.items()
    }


def chart_svg(session: Session, *, round: int, slider: str) -> str | None:
    info, result = _computed(session)
    if round not in result.rounds or slider not in info.slider_keys:
        return None
    row = next(r for r in charts.plot_rows(info, result, round) if r["slider"].key == slider)
    # Translated here because makemessages reads no .svg templates.
    if row["bars"]:
        legend = _(
            "Bars: how many positions per 5 points (0 left, 100 right). Band: the middle half. Black line: the median."
        )
    else:
        legend = _("Dots: one position each (0 left, 100 right). Band: the middle half. Black line: the median.")
    if row["before"] is not None:
        legend += " " + _("Dashed: round 1.") + " " + _("Arrow: the change since round 1.")
    round_name = _("round 1 (now)") if round == 1 else _("round 2 (desired)")
    summary = row["summary"]
    stats = f"n = {summary.n}"
    if row["abstained"]:
        stats += f" (+{row['abstained']} {_('no opinion')})"
    if summary.n:
        stats += (
            f" · {_('median')} {floatformat(summary.median, '-1')}"
            f" · {_('middle half')} {floatformat(summary.q1, '-1')}\N{EN DASH}{floatformat(summary.q3, '-1')}"
        )
        if summary.split:
            stats += f" · {_('Split')}"
    layout = charts.chart_layout(
        label=row["slider"].label,
        subtitle=f"{session.title} · {round_name}",
        stats=stats,
        left=row["slider"].left,
        right=row["slider"].right,
        legend=legend,
    )
    return render_to_string(
        "workshop/chart.svg",
        {"row": row, "plot": charts.frame(), "round_name": round_name, "layout": layout},
    )
