"""The room against its reference, as every output draws it: the screen's "Vergelijk" mode, the phones,
the PDF report and the workbook. One shape from `references.compare`; texts in the active language.

Whether the comparison may be shown at all is decided elsewhere, once: live_view.viewed for the screen and
control panel, the reveal to the phones for the phones, and a closed session's results for the report.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from workshop import charts, references

if TYPE_CHECKING:
    from workshop.models import Profile, Slider


def comparison(
    copy: dict[str, Any] | None,
    *,
    round: int,
    sliders: tuple[Slider, ...] | list[Slider],
    medians: dict[str, float | None],
    before: dict[str, float | None] | None,
    profile: str | None,
) -> references.Comparison | None:
    if not copy:
        return None
    keys = [s.key for s in sliders]
    return references.compare(copy["data"], round=round, sliders=keys, medians=medians, before=before, profile=profile)


def _band(band: references.Band | None) -> dict[str, Any] | None:
    if band is None:
        return None
    return {
        "median": band.median,
        "q1": band.q1,
        "q3": band.q3,
        "sessions": band.sessions,
        "median_x": round(charts.x_of(band.median), 1),
        "q1_x": round(charts.x_of(band.q1), 1),
        "width": round(max(charts.x_of(band.q3) - charts.x_of(band.q1), 4.0), 1),
    }


def place_text(slider: Slider, place: str | None) -> str:
    if place == "below":
        return _("more towards “%(pole)s” than most") % {"pole": slider.left}
    if place == "above":
        return _("more towards “%(pole)s” than most") % {"pole": slider.right}
    if place == "within":
        return _("like most others")
    return ""


def share_text(share: references.Share | None, round: int) -> str:
    """ "3 of the 12 comparable sessions came out here too: 1 in 4." Sessions, not municipalities: one
    municipality may have run several sessions (docs/archive-format.md)."""
    if share is None:
        return ""
    if share.count == 0:
        if round == 2:
            return _("None of the %(sessions)d comparable sessions is there now.") % {"sessions": share.sessions}
        return _("None of the %(sessions)d comparable sessions came out here.") % {"sessions": share.sessions}
    values = {"count": share.count, "sessions": share.sessions, "one_in": share.one_in}
    if round == 2:
        return (
            ngettext(
                "%(count)d of the %(sessions)d comparable sessions is there already: 1 in %(one_in)d.",
                "%(count)d of the %(sessions)d comparable sessions are there already: 1 in %(one_in)d.",
                share.count,
            )
            % values
        )
    return (
        ngettext(
            "%(count)d of the %(sessions)d comparable sessions came out here too: 1 in %(one_in)d.",
            "%(count)d of the %(sessions)d comparable sessions came out here too: 1 in %(one_in)d.",
            share.count,
        )
        % values
    )


def context(
    copy: dict[str, Any],
    found: references.Comparison,
    *,
    sliders: tuple[Slider, ...] | list[Slider],
    profiles: dict[str, Profile],
) -> dict[str, Any]:
    """What the templates (_compare_screen.html, _compare_report.html), the phones and the workbook draw."""
    by_key = {s.key: s for s in sliders}
    share = found.share
    return {
        "name": copy["name"],
        "description": copy.get("description", ""),
        "made": date.fromisoformat(copy["made"]),
        "sessions": int(copy["sessions"]),
        "round_sessions": found.sessions,
        "round": found.round,
        "rows": [
            {
                "slider": by_key[row.key],
                "room": row.room,
                "room_x": round(charts.x_of(row.room), 1) if row.room is not None else None,
                "before": row.before,
                "before_x": round(charts.x_of(row.before), 1) if row.before is not None else None,
                "band": _band(row.band),
                "desired": _band(row.desired),
                "place": row.place,
                "place_text": place_text(by_key[row.key], row.place),
            }
            for row in found.rows
        ],
        "share": None
        if share is None
        else {
            "profile": profiles.get(share.profile),
            "count": share.count,
            "sessions": share.sessions,
            "one_in": share.one_in,
            "text": share_text(share, found.round),
        },
        "plot": charts.frame(),
    }


def phone_data(context: dict[str, Any]) -> dict[str, Any]:
    """The same comparison as plain JSON for a phone's result (docs/protocol.md, `state`)."""
    source = _("Reference “%(name)s”: %(sessions)s sessions, made %(made)s") % {
        "name": context["name"],
        "sessions": context["sessions"],
        "made": date_format(context["made"], "j F Y"),
    }
    share = context["share"]
    profile = share["profile"].name + ": " if share and share["profile"] else ""
    return {
        "title": _("Compared with other sessions"),
        "source": source,
        "name": context["name"],
        "made": context["made"].isoformat(),
        "sessions": context["sessions"],
        "round": context["round"],
        "share": profile + share["text"] if share else "",
        "sliders": [
            {
                "key": row["slider"].key,
                "label": row["slider"].label,
                "room": row["room"],
                "median": row["band"]["median"] if row["band"] else None,
                "desired": row["desired"]["median"] if row["desired"] else None,
                "before": row["before"],
                "q1": row["band"]["q1"] if row["band"] else None,
                "q3": row["band"]["q3"] if row["band"] else None,
                "place": row["place_text"],
                "you": _("you"),
                "others": _("others"),
            }
            for row in context["rows"]
        ],
    }


def for_results(session: Any, report: dict[str, Any]) -> list[dict[str, Any]]:
    """Per round the room's committed result against the session's copy of its reference: what the PDF report
    and the workbook carry home (empty without a reference)."""
    copy = session.reference_copy
    if not copy:
        return []
    info = report["info"]
    profiles = {p.key: p for p in info.profiles}
    medians = {r["round"]: {row["slider"].key: row["summary"].median for row in r["rows"]} for r in report["rounds"]}
    found = []
    for r in report["rounds"]:
        compared = comparison(
            copy,
            round=r["round"],
            sliders=info.sliders,
            medians=medians[r["round"]],
            before=medians.get(1) if r["round"] == 2 else None,
            profile=r["profile"].key if r["profile"] else None,
        )
        if compared is not None:
            found.append(context(copy, compared, sliders=info.sliders, profiles=profiles))
    return found


def workbook_lines(session: Any, report: dict[str, Any]) -> tuple[str, list[tuple[str, Any, str]]] | None:
    """The comparison as the workbook's "Context and notes" sheet carries it (a sheet of its own would print a
    fifth page): a line naming the reference, then per round and slider (slider, round, text); None without."""
    compared = for_results(session, report)
    if not compared:
        return None
    first = compared[0]
    title = _("Reference “%(name)s”, made %(made)s, from %(sessions)s sessions.") % {
        "name": first["name"],
        "made": first["made"],
        "sessions": first["sessions"],
    }
    lines: list[tuple[str, Any, str]] = []
    for compare in compared:
        for row in compare["rows"]:
            band = row["band"] or {}
            others = (
                _("others %(median)s (middle half %(q1)s to %(q3)s, %(n)s sessions)")
                % {
                    "median": _number(band.get("median")),
                    "q1": _number(band.get("q1")),
                    "q3": _number(band.get("q3")),
                    "n": band.get("sessions"),
                }
                if band
                else _("others: too few sessions")
            )
            room = _("room %(median)s") % {"median": _number(row["room"])}
            lines.append((row["slider"].label, compare["round"], f"{room} · {others}"))
        if compare["share"]:
            lines.append(("", compare["round"], compare["share"]["text"]))
    return title, lines


def _number(value: Any) -> str:
    return "\N{EN DASH}" if value is None else number_format(value)
