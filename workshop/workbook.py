"""The Excel workbook of a session's results: a summary, one sheet per round, and the groups.

Numbers are stored as numbers so that a spreadsheet can compute with them; "geen mening" is an
empty cell, explained by a legend on every round's sheet.
"""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

from workshop import reference_view, results
from workshop.downloads import safe_cell
from workshop.models import Session

BOLD = Font(bold=True)
NOT_PLACED = PatternFill("solid", fgColor="DDDDDD")


def _header(sheet: Worksheet, cells: list[Any]) -> None:
    sheet.append([safe_cell(c) for c in cells])
    for cell in sheet[sheet.max_row]:
        cell.font = BOLD


def _summary(sheet: Worksheet, *, session: Session, report: dict[str, Any]) -> None:
    sheet.title = _("Summary")
    sheet.append([safe_cell(session.title)])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([_("Date"), session.created_at.date()])
    sheet["B2"].number_format = "yyyy-mm-dd"
    sheet.append([_("Participants"), report["joined"]])
    sheet.append([])
    for round in report["rounds"]:
        profile = round["profile"]
        sheet.append([_("Round %(n)d") % {"n": round["round"]}, safe_cell(profile.name) if profile else None])
        sheet[sheet.max_row][0].font = BOLD
        if profile:
            sheet.append([_("Assignment for the boundary worker"), safe_cell(profile.assignment)])
    sheet.append([])
    rounds = [r["round"] for r in report["rounds"]]
    _header(sheet, [_("Slider"), *[_("Median round %(n)d") % {"n": n} for n in rounds]])
    for i, slider in enumerate(report["info"].sliders):
        medians = [r["rows"][i]["summary"].median for r in report["rounds"]]
        sheet.append([safe_cell(slider.label), *medians])
    sheet.column_dimensions["A"].width = 38
    sheet.column_dimensions["B"].width = 48


def _round_sheet(sheet: Worksheet, *, round: int, sliders: list[Any], rows: dict[int, dict[str, Any]]) -> None:
    sheet.title = _("Round %(n)d") % {"n": round}
    _header(sheet, [_("Participant"), _("Group"), *[s.label for s in sliders]])
    for number, row in sorted(rows.items()):
        sheet.append([number, safe_cell(row["group"]) or None, *[row["values"].get(s.key) for s in sliders]])
        for column, slider in enumerate(sliders, start=3):
            if slider.key not in row["values"]:
                sheet.cell(row=sheet.max_row, column=column).fill = NOT_PLACED
    sheet.append([])
    sheet.append([_("Legend")])
    sheet[sheet.max_row][0].font = BOLD
    sheet.append([_("0 = left pole, 100 = right pole")])
    sheet.append([_('Empty cell: "geen mening" (no opinion)')])
    sheet.append([_("Grey empty cell: not placed")])
    sheet.cell(row=sheet.max_row, column=1).fill = NOT_PLACED
    sheet.freeze_panes = "C2"
    sheet.column_dimensions["B"].width = 16


def _groups_sheet(sheet: Worksheet, *, report: dict[str, Any], round: int) -> None:
    sheet.title = _("Groups")
    sliders = report["info"].sliders
    _header(sheet, [_("Group"), _("Round"), "n", *[s.label for s in sliders], _("Profile")])
    for g in report["groups"]:
        medians = [summary.median for _slider, summary in g["cells"]]
        best = g["best"].name if g["best"] else None
        sheet.append([safe_cell(g["group"].name), round, g["group"].size, *medians, safe_cell(best)])
    sheet.column_dimensions["A"].width = 20


def xlsx(session: Session) -> bytes:
    report = results.build(session)
    sliders = list(report["info"].sliders)
    per_round: dict[int, dict[int, dict[str, Any]]] = defaultdict(dict)
    for number, group, round, slider, value in results.positions(session):
        row = per_round[round].setdefault(number, {"group": group, "values": {}})
        row["values"][slider] = value
    book = Workbook()
    _summary(book.active, session=session, report=report)
    for round in (r["round"] for r in report["rounds"]):
        _round_sheet(book.create_sheet(), round=round, sliders=sliders, rows=per_round[round])
    _groups_sheet(book.create_sheet(), report=report, round=session.round)
    reference_view.workbook_sheet(book, session=session, report=report)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
