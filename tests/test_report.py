"""What the municipality takes home: the PDF report and the Excel workbook, opened and read back."""

import contextlib
import csv
import functools
import http.server
import io
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from django.test import Client
from django.utils import translation
from PIL import Image
from pypdf import PdfReader

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, need
from workshop import closing, result_ticket, results, session_control
from workshop.models import Note, Participant, Position

# These tests read the app in-process and then open Chromium on their own, one at a time: the
# shared `browser` fixture would keep a Playwright loop running while Django is called.
pytestmark = pytest.mark.django_db


@pytest.fixture
def full_workshop(workshop_session):
    """Twelve phones in two rounds and three groups (the third made in round 2), a "geen mening", notes."""
    session = workshop_session
    closing.set_metadata(
        session=session, organisation_type="municipality", size_class="m", region="ut", context="Wijkteams in Noord"
    )
    sliders = list(session.exercise.sliders.order_by("order"))
    trio_a = session_control.add_group(session=session, name="Trio A")
    trio_b = session_control.add_group(session=session, name="Trio B")
    phones = [
        Participant.objects.create(session=session, token_hash=f"{i:064x}", group=(trio_a, trio_b)[i % 2])
        for i in range(12)
    ]
    sent = {}
    for i, phone in enumerate(phones):
        for j, slider in enumerate(sliders):
            value = None if (i, j) == (3, 1) else (7 * i + 13 * j) % 101
            Position.objects.create(participant=phone, slider=slider, round=1, value=value)
            sent[(i + 1, 1, slider.key)] = value
    Note.objects.create(session=session, slider=sliders[0], round=1, text="Wie bepaalt de agenda?")
    session_control.start_round_two(session=session)
    trio_c = session_control.add_group(session=session, name="Trio C")
    Participant.objects.filter(pk__in=[p.pk for p in phones[8:]]).update(group=trio_c)
    for i, phone in enumerate(phones):
        for j, slider in enumerate(sliders):
            value = (5 * i + 17 * j + 40) % 101
            Position.objects.create(participant=phone, slider=slider, round=2, value=value)
            sent[(i + 1, 2, slider.key)] = value
    Note.objects.create(session=session, slider=sliders[2], round=2, text="Samen met de woningcorporatie.")
    closing.close_session(session=session)
    session.refresh_from_db()
    session.sent = sent
    return session


def blank_pages(pdf: bytes) -> list[int]:
    """The pages that, rendered, have (nearly) no ink: fewer than 1 in 100 pixels darker than light grey."""
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(["pdftoppm", "-r", "30", "-gray", "-png", "-", f"{folder}/page"], input=pdf, check=True)
        blank = []
        for number, path in enumerate(sorted(Path(folder).glob("page-*.png")), start=1):
            histogram = Image.open(path).convert("L").histogram()
            if sum(histogram[:200]) < sum(histogram) / 100:
                blank.append(number)
        return blank


@pytest.mark.slow  # a subprocess, real PDFs or real password hashes: over a second
@pytest.mark.parametrize("language", ["nl", "en"])
def test_the_report_of_two_rounds_and_three_groups_fits_four_pages_without_a_blank_one(
    fenna_client, full_workshop, language
):
    fenna_client.cookies["django_language"] = language
    response = fenna_client.get(f"/f/s/{full_workshop.code}/results.pdf")
    assert response["Content-Type"] == "application/pdf"
    pdf = response.content
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) <= 4
    assert blank_pages(pdf) == []
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    with translation.override(language):
        for round in results.build(full_workshop)["rounds"]:
            assert round["profile"].name in text
            assert " ".join(round["profile"].assignment.split()) in text
    assert "Wie bepaalt de agenda?" in text and "Trio C" in text
    heading = {"nl": "Opdracht voor de grenswerker", "en": "Assignment for the boundary worker"}[language]
    assert heading in text


def test_the_workbook_reads_back_exactly_what_the_phones_sent(fenna_client, full_workshop):
    response = fenna_client.get(f"/f/s/{full_workshop.code}/results.xlsx")
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Samenvatting", "Ronde 1", "Ronde 2", "Groepen"]
    sliders = list(full_workshop.exercise.sliders.order_by("order"))
    read = {}
    for round in (1, 2):
        rows = list(book[f"Ronde {round}"].iter_rows(values_only=True))
        assert rows[0] == ("Deelnemer", "Groep", *[s.label for s in sliders])
        for row in rows[1:13]:
            assert isinstance(row[0], int)
            for slider, value in zip(sliders, row[2:], strict=True):
                assert value is None or isinstance(value, int)
                read[(row[0], round, slider.key)] = value
        assert any(row and row[0] and "geen mening" in str(row[0]) for row in rows[13:])
    assert read == full_workshop.sent
    groups = list(book["Groepen"].iter_rows(values_only=True))
    assert [row[0] for row in groups[1:]] == ["Trio A", "Trio B", "Trio C"]


def test_groups_are_named_only_on_rows_of_rounds_in_which_they_existed(fenna_client, full_workshop):
    book = openpyxl.load_workbook(io.BytesIO(fenna_client.get(f"/f/s/{full_workshop.code}/results.xlsx").content))
    first = {row[0]: row[1] for row in book["Ronde 1"].iter_rows(min_row=2, max_row=13, values_only=True)}
    second = {row[0]: row[1] for row in book["Ronde 2"].iter_rows(min_row=2, max_row=13, values_only=True)}
    assert second[9] == "Trio C" and first[9] is None  # Trio C was made in round 2
    assert first[1] == second[1] == "Trio A"
    body = b"".join(fenna_client.get(f"/f/s/{full_workshop.code}/results.csv").streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert {r["group"] for r in rows if r["round"] == "1"} == {"", "Trio A", "Trio B"}
    assert {r["group"] for r in rows if r["round"] == "2"} == {"Trio A", "Trio B", "Trio C"}


@pytest.mark.browser
def test_printing_the_results_page_gives_the_same_pages_as_the_report(fenna_client, full_workshop, tmp_path):
    need(shutil.which(CHROMIUM) is not None, f"Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    html = fenna_client.get(f"/f/s/{full_workshop.code}/results/").content.decode()
    css = (ROOT / "static" / "workshop" / "app.css").as_uri()
    page_file = tmp_path / "results.html"
    page_file.write_text(re.sub(r'href="[^"]*app[^"]*\.css"', f'href="{css}"', html), encoding="utf-8")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(page_file.as_uri())
        printed = page.pdf(prefer_css_page_size=True)
        browser.close()
    report = fenna_client.get(f"/f/s/{full_workshop.code}/results.pdf").content
    assert len(PdfReader(io.BytesIO(printed)).pages) == len(PdfReader(io.BytesIO(report)).pages) == 3
    assert blank_pages(printed) == []


def test_a_phone_takes_home_its_own_positions_and_the_rooms_medians_on_one_page(full_workshop):
    phone = Participant.objects.filter(session=full_workshop).order_by("created_at", "pk")[2]
    other = Position.objects.filter(participant__session=full_workshop, round=2, slider__key="regie").exclude(
        participant=phone
    )[0]
    Position.objects.filter(pk=other.pk).update(value=99)
    # What the phone kept: its own positions (the server forgot at closing which phone was whose).
    own = {f"r{r}-{key}": value for (number, r, key), value in full_workshop.sent.items() if number == 3}
    own["r1-aanpak"] = "abstain"
    # ... as the server signed them into the ticket the phone got when the session closed (result_ticket.py).
    per_round = {r: {k.split("-", 1)[1]: v for k, v in own.items() if k.startswith(f"r{r}-")} for r in (1, 2)}
    ticket = {"ticket": result_ticket.issue(code=full_workshop.code, own=per_round)}
    url = f"/j/{full_workshop.code}/result.pdf"
    checked = Client(enforce_csrf_checks=True)
    assert checked.get(url).status_code == 405
    assert checked.post(url, ticket).status_code == 403  # no CSRF token
    checked.cookies["csrftoken"] = "x" * 32
    response = checked.post(url, {**ticket, "csrfmiddlewaretoken": "x" * 32})
    assert response["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) == 1 and blank_pages(response.content) == []
    text = " ".join(reader.pages[0].extract_text().split())
    final = results.build(full_workshop)["rounds"][-1]
    assert final["profile"].name in text and " ".join(final["profile"].assignment.split()) in text
    assert {str(v) for k, v in own.items() if v != "abstain"} <= set(re.findall(r"\d+", text))
    assert "geen mening" in text
    assert "99" not in text  # another phone's answer


def test_a_phone_of_an_open_session_gets_no_pdf(client, workshop_session):
    ticket = result_ticket.issue(code=workshop_session.code, own={1: {"sturing": 40}})
    assert client.post(f"/j/{workshop_session.code}/result.pdf", {"ticket": ticket}).status_code == 404


@contextlib.contextmanager
def static_server(directory: Path) -> Iterator[str]:
    """A plain HTTP server on loopback for one directory, in a thread; yields its base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.browser
def test_a_phone_reloaded_after_closing_still_shows_its_result_and_offers_its_pdf(client, full_workshop, tmp_path):
    need(shutil.which(CHROMIUM) is not None, f"Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    html = client.get(f"/j/{full_workshop.code}/").content.decode()
    assert 'id="kept-result"' in html and "csrfmiddlewaretoken" in html
    # The page as served, beside the static files: its script is a module, which a browser loads over HTTP only.
    (tmp_path / "ended.html").write_text(html, encoding="utf-8")
    (tmp_path / "static").symlink_to(ROOT / "static")
    key = f"schuifoefening:{full_workshop.code}"
    kept = {
        "title": full_workshop.title,
        "profile": {"name": "Het profiel", "description": "Zo is het.", "assignment": "Doe dit."},
        "rows": [{"label": "Sturing", "own": 14, "median": 38.5}, {"label": "Regie", "own": "abstain", "median": 56}],
        "own": {"1": {"sturing": 14, "regie": "abstain", "aanpak": None}},
        "ticket": "the-signed-ticket",
    }
    with static_server(tmp_path) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{base}/ended.html")
        assert page.locator("#kept-result").is_hidden()  # another phone, or none: nothing kept
        page.evaluate("([key, kept]) => localStorage.setItem(key + ':final', JSON.stringify(kept))", [key, kept])
        page.reload()
        assert page.locator("#kept-result").is_visible()
        assert page.locator("#kept-name").text_content() == "Het profiel"
        assert page.locator("#kept-assignment").text_content() == "Doe dit."
        assert page.locator("#kept-rows tr").all_inner_texts() == ["Sturing\t14\t38,5", "Regie\t\N{EN DASH}\t56"]
        assert page.locator("#kept-values input[name=ticket]").input_value() == "the-signed-ticket"
        assert page.locator("#kept-values input").count() == 1
        browser.close()
