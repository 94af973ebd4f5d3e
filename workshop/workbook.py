"""The Excel workbook of a session's results, ready to read and to print.

Four sheets, each one landscape page wide with its header rows repeated: a summary (the facts, the
organisation context, per round the profile and the runner-up, the room's and the groups' medians
side by side), one sheet per round with every participant's positions, and the session's context
with the facilitator's notes. Numbers are stored as numbers so that a spreadsheet can compute with
them; "geen mening" is an empty cell, explained by a legend on every round's sheet; dates are real
dates shown in the workbook's language.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from workshop import reference_view, results
from workshop import report as report_module
from workshop.downloads import safe_cell
from workshop.models import Session

# The default font by name: without one, LibreOffice draws bold cells in a serif.
BOLD = Font(name="Calibri", bold=True)
HEADING = Font(name="Calibri", bold=True, size=14)
NOT_PLACED = PatternFill("solid", fgColor="DDDDDD")
HEADER_FILL = PatternFill("solid", fgColor="E8EEF5")
WRAP = Alignment(wrap_text=True, vertical="top")
# Excel and LibreOffice show a date's month names in the locale the format names, not the reader's.
DATE_FORMATS = {"nl": "[$-413]d mmmm yyyy", "en": "[$-809]d mmmm yyyy"}
# Characters per line of a column at Calibri 11, for the row heights of wrapped text.
LINE_HEIGHT = 15
NARROW, WIDE = 14, 60

# Sheets a feature adds after the notes: a function of (sheet, context) each, given the report's context.
SHEETS: list[Callable[[Worksheet, dict[str, Any]], None]] = []


def _lines(text: Any, width: float) -> int:
    if text is None:
        return 1
    return sum(max(1, -(-len(part) // max(1, int(width - 1)))) for part in str(text).split("\n"))


def _fit_row(sheet: Worksheet, row: int) -> None:
    """A row as tall as its most wrapped cell: openpyxl cannot measure, and not every reader re-measures."""
    lines = max(
        _lines(cell.value, sheet.column_dimensions[get_column_letter(cell.column)].width or 8.43) for cell in sheet[row]
    )
    if lines > 1:
        sheet.row_dimensions[row].height = LINE_HEIGHT * lines


def _header(sheet: Worksheet, cells: list[Any]) -> None:
    sheet.append([safe_cell(c) for c in cells])
    for cell in sheet[sheet.max_row]:
        cell.font = BOLD
        cell.fill = HEADER_FILL
        cell.alignment = WRAP


def _widths(sheet: Worksheet, widths: list[float]) -> None:
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width


def _print_setup(sheet: Worksheet, *, title: str, header_rows: str | None = None) -> None:
    """Landscape A4, one page wide, header rows on every page, the session and page number in the margins."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.gridLines = False
    sheet.page_margins.left = sheet.page_margins.right = 0.5
    if header_rows:
        sheet.print_title_rows = header_rows
    sheet.oddHeader.left.text = title.replace("&", "&&")
    sheet.oddHeader.left.size = 9
    sheet.oddFooter.right.text = "&A · &P / &N"
    sheet.oddFooter.right.size = 9


def _wrapped(sheet: Worksheet, row: list[Any]) -> None:
    sheet.append([safe_cell(c) for c in row])
    for cell in sheet[sheet.max_row]:
        cell.alignment = WRAP
    _fit_row(sheet, sheet.max_row)


def _summary(sheet: Worksheet, context: dict[str, Any]) -> None:
    session, report = context["session"], context["report"]
    sheet.title = _("Summary")
    _widths(sheet, [30, 28, 14, 28, 14, *[18] * max(0, len(report["groups"]) - 1)])
    sheet.append([safe_cell(session.title)])
    sheet["A1"].font = HEADING
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=4)
    sheet["A1"].alignment = WRAP
    sheet.row_dimensions[1].height = 20 * _lines(session.title, 90)
    sheet.append([_("Date"), timezone.localdate(session.created_at)])  # the room's day, not the UTC one
    sheet.cell(row=sheet.max_row, column=2).number_format = DATE_FORMATS.get(
        (get_language() or "nl")[:2], "d mmmm yyyy"
    )
    sheet.cell(row=sheet.max_row, column=2).alignment = Alignment(horizontal="left")
    sheet.append([_("Participants"), report["joined"]])
    sheet.cell(row=sheet.max_row, column=2).alignment = Alignment(horizontal="left")
    if context["context_lines"]:
        _wrapped(sheet, [_("Organisation"), " · ".join(str(line) for line in context["context_lines"])])
        sheet.merge_cells(start_row=sheet.max_row, start_column=2, end_row=sheet.max_row, end_column=4)
    sheet.append([])
    _header(sheet, [_("Round"), _("Nearest profile"), _("Match"), _("Runner-up"), _("Match")])
    _fit_row(sheet, sheet.max_row)
    for round in report["rounds"]:
        best = round["matches"][0] if round["matches"] and round["profile"] else None
        runner = round["runner_up"]
        sheet.append(
            [
                _("Round %(n)d") % {"n": round["round"]},
                safe_cell(best["profile"].name) if best else None,
                best["match"] / 100 if best and best["match"] is not None else None,
                safe_cell(runner["profile"].name) if runner else None,
                runner["match"] / 100 if runner and runner["match"] is not None else None,
            ]
        )
        for column in (2, 4):
            sheet.cell(row=sheet.max_row, column=column).alignment = WRAP
        for column in (3, 5):
            sheet.cell(row=sheet.max_row, column=column).number_format = "0%"
        _fit_row(sheet, sheet.max_row)
    sheet.append([])
    _medians(sheet, report=report, group_rows=context["group_rows"])


def _medians(sheet: Worksheet, *, report: dict[str, Any], group_rows: list[dict[str, Any]]) -> None:
    """The room's median per slider and round, the shift, and each group's medians beside them, as on the
    report's cover; a group too small on a slider shows its count there."""
    rounds = report["rounds"]
    shift = [_("Shift")] if len(rounds) == 2 else []
    groups = [f"{g['group'].name} (n = {g['group'].size})" for g in report["groups"]]
    _header(sheet, [_("Slider"), *[_("Median round %(n)d") % {"n": r["round"]} for r in rounds], *shift, *groups])
    _fit_row(sheet, sheet.max_row)
    for i, slider in enumerate(report["info"].sliders):
        medians = [r["rows"][i]["summary"].median for r in rounds]
        moved = [None if None in medians else medians[1] - medians[0]] if shift else []
        cells = [c.median if c.median is not None else (f"n = {c.n}" if c.n else None) for c in group_rows[i]["cells"]]
        _wrapped(sheet, [slider.label, *medians, *moved, *cells])
        if shift:  # a shift reads as a direction: +29 to the right pole, -6.5 to the left
            sheet.cell(row=sheet.max_row, column=len(rounds) + 2).number_format = "+0.0;-0.0;0"
    if report["groups"]:
        profiles = [g["best"].name if g["best"] else None for g in report["groups"]]
        _wrapped(sheet, [_("Profile"), *[None] * (len(rounds) + len(shift)), *profiles])
    sheet.append([])
    _wrapped(
        sheet, [_("Medians per group count only the positions of its own members; “n = 2”: too few answers to show.")]
    )
    sheet.merge_cells(start_row=sheet.max_row, start_column=1, end_row=sheet.max_row, end_column=5)
    sheet.row_dimensions[sheet.max_row].height = LINE_HEIGHT * 2


def _round_sheet(
    sheet: Worksheet, *, round: int, sliders: list[Any], rows: dict[int, dict[str, Any]], title: str
) -> None:
    sheet.title = _("Round %(n)d") % {"n": round}
    _widths(sheet, [12, 18, *[NARROW] * len(sliders)])
    _header(sheet, [_("Participant"), _("Group"), *[s.label for s in sliders]])
    _fit_row(sheet, 1)
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
    _print_setup(sheet, title=title, header_rows="1:1")


def _context_and_notes(sheet: Worksheet, context: dict[str, Any]) -> None:
    session, report = context["session"], context["report"]
    sheet.title = _("Context and notes")
    _widths(sheet, [26, 12, WIDE + 20])
    sheet.append([_("Context")])
    sheet["A1"].font = HEADING
    facts = [
        (_("Exercise"), f"{session.exercise.title} (v{session.exercise.version})"),
        (_("Organisation"), session.get_organisation_type_display()),
        (_("Size"), session.get_size_class_display()),
        (_("Region"), session.get_region_display()),
        (_("Context"), session.context),
    ]
    for label, value in facts:
        if value:
            _wrapped(sheet, [label, None, value])
            sheet.merge_cells(start_row=sheet.max_row, start_column=1, end_row=sheet.max_row, end_column=2)
    sheet.append([])
    sheet.append([_("Notes")])
    sheet.cell(row=sheet.max_row, column=1).font = HEADING
    _header(sheet, [_("Slider"), _("Round"), _("Note")])
    notes = [
        (r["round"], row["slider"].label, row["note"]) for r in report["rounds"] for row in r["rows"] if row["note"]
    ]
    for round, label, note in notes:
        _wrapped(sheet, [label, round, note])
    if not notes:
        sheet.append([_("No notes")])
    compared = reference_view.workbook_lines(session, report)
    if compared is not None:
        title, lines = compared
        sheet.append([])
        sheet.append([_("Compared with other sessions")])
        sheet.cell(row=sheet.max_row, column=1).font = HEADING
        _wrapped(sheet, [title])
        sheet.merge_cells(start_row=sheet.max_row, start_column=1, end_row=sheet.max_row, end_column=3)
        _header(sheet, [_("Slider"), _("Round"), _("Room and others")])
        for line in lines:
            _wrapped(sheet, list(line))
    sheet.append([])
    _wrapped(sheet, [_("Source"), None, session.exercise.source])


def xlsx(session: Session) -> bytes:
    context = report_module.context(session)
    report = context["report"]
    sliders = list(report["info"].sliders)
    per_round: dict[int, dict[int, dict[str, Any]]] = defaultdict(dict)
    for number, group, round, slider, value in results.positions(session):
        row = per_round[round].setdefault(number, {"group": group, "values": {}})
        row["values"][slider] = value
    book = Workbook()
    _summary(book.active, context)
    _print_setup(book.active, title=session.title)
    for round in (r["round"] for r in report["rounds"]):
        _round_sheet(book.create_sheet(), round=round, sliders=sliders, rows=per_round[round], title=session.title)
    notes = book.create_sheet()
    _context_and_notes(notes, context)
    _print_setup(notes, title=session.title)
    for add in SHEETS:
        sheet = book.create_sheet()
        add(sheet, context)
        _print_setup(sheet, title=session.title)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
