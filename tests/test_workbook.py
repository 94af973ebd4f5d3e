"""The workbook opens ready to read: widths that fit, wrapped texts, dates in its language, the
runner-up beside the profile, the context and the notes, and a print of at most four pages."""

import io
import shutil
import subprocess
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl
import pytest
from django.utils import dateformat, timezone, translation
from openpyxl.utils import get_column_letter
from pypdf import PdfReader

from tests.conftest import ROOT, need
from tests.test_report import full_workshop, two_rounds  # noqa: F401 (the fixture and its helper)
from workshop import results
from workshop.models import Session

pytestmark = pytest.mark.django_db


def workbook(client, session, language="nl"):
    client.cookies["django_language"] = language
    return openpyxl.load_workbook(io.BytesIO(client.get(f"/f/s/{session.code}/results.xlsx").content))


def test_every_header_fits_its_column_or_wraps_in_a_row_tall_enough(fenna_client, full_workshop):  # noqa: F811
    book = workbook(fenna_client, full_workshop)
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if not isinstance(cell.value, str) or cell.coordinate in sheet.merged_cells:
                    continue
                width = sheet.column_dimensions[get_column_letter(cell.column)].width
                spills = all(sheet.cell(cell.row, c).value is None for c in range(cell.column + 1, cell.column + 6))
                if len(cell.value) > width and not spills:  # a short line beside empty cells may run over them
                    assert cell.alignment.wrap_text, (sheet.title, cell.coordinate, cell.value)
                    lines = -(-len(cell.value) // int(width - 1))
                    height = sheet.row_dimensions[cell.row].height
                    assert lines == 1 or (height and height >= 15 * lines), (sheet.title, cell.coordinate)
    header = [c.value for c in book["Ronde 1"][1] if c.value]
    assert header[:2] == ["Deelnemer", "Groep"]
    for column, text in enumerate(header, start=1):
        width = book["Ronde 1"].column_dimensions[get_column_letter(column)].width
        assert max(len(word) for word in text.split()) <= width  # no word cut: "Deelneme", "Verankeri"


def test_the_date_is_a_date_shown_in_the_workbooks_language(fenna_client, full_workshop):  # noqa: F811
    for language, code in (("nl", "[$-413]"), ("en", "[$-809]")):
        sheet = workbook(fenna_client, full_workshop, language).worksheets[0]
        cell = next(row[1] for row in sheet.iter_rows() if getattr(row[1], "is_date", False))
        assert cell.value.date() == timezone.localdate(full_workshop.created_at)
        assert cell.number_format == code + "d mmmm yyyy"


def test_a_session_just_after_midnight_carries_the_rooms_date_not_yesterdays_utc_date(fenna_client, full_workshop):  # noqa: F811
    # 23:30 UTC on 3 December is 00:30 on 4 December in Amsterdam, where the room sat.
    just_after_midnight = datetime(2026, 12, 3, 23, 30, tzinfo=UTC)
    Session.objects.filter(pk=full_workshop.pk).update(created_at=just_after_midnight, closed_at=just_after_midnight)
    full_workshop.refresh_from_db()
    sheet = workbook(fenna_client, full_workshop).worksheets[0]
    shown = next(row[1] for row in sheet.iter_rows() if getattr(row[1], "is_date", False))
    assert shown.value.date() == date(2026, 12, 4)
    exported = results.as_json(full_workshop)["session"]
    assert (exported["created"], exported["closed"]) == ("2026-12-04", "2026-12-04")


def test_the_summary_puts_the_runner_up_beside_the_profile_and_the_context_sheet_has_the_notes(
    fenna_client,
    full_workshop,  # noqa: F811
):
    book = workbook(fenna_client, full_workshop)
    summary = list(book["Samenvatting"].iter_rows(values_only=True))
    with translation.override("nl"):
        rounds = results.build(full_workshop)["rounds"]
    heads = next(row for row in summary if row[0] == "Ronde")
    assert heads[:5] == ("Ronde", "Dichtstbijzijnde profiel", "Overeenkomst", "Tweede profiel", "Overeenkomst")
    for round in rounds:
        row = next(r for r in summary if r[0] == f"Ronde {round['round']}")
        assert row[1] == round["profile"].name and row[3] == round["matches"][1]["profile"].name
        assert row[2] == pytest.approx(round["matches"][0]["match"] / 100)
    assert next(r[:2] for r in summary if r[0] == "Organisatie") == (
        "Organisatie",
        "Gemeente · 50.000 tot 100.000 inwoners · Utrecht",
    )
    context = list(book["Context en notities"].iter_rows(values_only=True))
    flat = [c for row in context for c in row if c]
    assert (
        "Wijkteams in Noord" in flat and "Wie bepaalt de agenda?" in flat and "Samen met de woningcorporatie." in flat
    )
    for sheet in book.worksheets:
        assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.fitToWidth == 1
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert book["Ronde 1"].print_title_rows == "$1:$1"


@pytest.mark.slow  # LibreOffice: several seconds
@pytest.mark.parametrize("language", ["nl", "en"])
def test_a_printed_workbook_is_at_most_four_pages_with_the_date_in_its_language(
    fenna_client,
    full_workshop,  # noqa: F811
    language,
):
    soffice = shutil.which("soffice")
    need(soffice is not None, "LibreOffice (soffice) is not installed")
    fenna_client.cookies["django_language"] = language
    body = fenna_client.get(f"/f/s/{full_workshop.code}/results.xlsx").content
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / f"workbook-{language}.xlsx"
        source.write_bytes(body)
        subprocess.run(
            [
                soffice,
                f"-env:UserInstallation=file://{folder}/profile",
                "--headless",
                "--convert-to",
                "pdf",
                "--outdir",
                folder,
                str(source),
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
        pdf = (Path(folder) / f"workbook-{language}.pdf").read_bytes()
    artifacts = ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / f"workbook-{language}.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "60", "-png", "-", str(artifacts / f"workbook-{language}")], input=pdf, check=True
    )
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) <= 4
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    with translation.override(language):
        assert dateformat.format(full_workshop.created_at, "j F Y") in text
    assert full_workshop.title in text
