"""The PDF report a municipality takes home: cover, both rounds, "nu → gewenst", groups and notes.

Rendered by WeasyPrint from the same `results.build` context as the results page, so the
report and the page can never disagree.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from workshop import reference_view, results
from workshop.models import Session

# Templates of sections a feature adds after the rounds, each given the whole context.
SECTIONS: list[str] = []


def _runner_up(round: dict[str, Any]) -> dict[str, Any] | None:
    return round["matches"][1] if len(round["matches"]) > 1 else None


def _groups_side_by_side(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per slider and one column per group, so that groups sit next to each other on paper."""
    groups = report["groups"]
    return [
        {"slider": slider, "cells": [g["cells"][i][1] for g in groups]}
        for i, slider in enumerate(report["info"].sliders)
    ]


def context(session: Session) -> dict[str, Any]:
    report = results.build(session)
    for round in report["rounds"]:
        round["runner_up"] = _runner_up(round)
        round["has_bars"] = any(row["bars"] for row in round["rows"])
    return {
        "session": session,
        "report": report,
        "group_rows": _groups_side_by_side(report),
        "printed": timezone.localdate(),
        # Templates of further sections, each included after the rounds (report.html says where).
        "sections": list(SECTIONS),
        "compared": reference_view.for_results(session, report),
        "context_lines": [
            value
            for value in (
                session.get_organisation_type_display(),
                session.get_size_class_display(),
                session.get_region_display(),
            )
            if value
        ],
    }


def pdf(session: Session) -> bytes:
    """The report as PDF bytes in the active language."""
    return render_pdf(render_to_string("workshop/report.html", context(session)))


def render_pdf(html: str) -> bytes:
    # Imported here: WeasyPrint needs the system's Pango, and everything but the PDFs runs without it.
    from weasyprint import HTML

    return HTML(string=html).write_pdf()


def personal_context(*, session: Session, own: dict[tuple[int, str], int | None]) -> dict[str, Any]:
    """A phone's own positions (None: "geen mening") beside the room's medians: nobody else's value is in it.

    A slider with fewer than MIN_GROUP_SHOWN answers has no median here: with two answers, one's own
    and the median would give the other's (2 * median - own).
    """
    report = results.build(session)
    rounds = [
        {
            "round": r["round"],
            "profile": r["profile"],
            "rows": [
                {
                    "slider": row["slider"],
                    "median": row["summary"].median if row["summary"].n >= settings.MIN_GROUP_SHOWN else None,
                    "own": own.get((r["round"], row["slider"].key)),
                    "placed": (r["round"], row["slider"].key) in own,
                }
                for row in r["rows"]
            ],
        }
        for r in report["rounds"]
    ]
    return {"session": session, "rounds": rounds, "final": rounds[-1] if rounds else None}


def personal_pdf(*, session: Session, own: dict[tuple[int, str], int | None]) -> bytes:
    """A phone's one-page PDF: its own positions beside the room's medians, and the final profile."""
    return render_pdf(personal_html(session=session, own=own))


def personal_html(*, session: Session, own: dict[tuple[int, str], int | None]) -> str:
    """The page the personal PDF is rendered from (the database is read here; rendering reads nothing)."""
    return render_to_string("workshop/report_personal.html", personal_context(session=session, own=own))
