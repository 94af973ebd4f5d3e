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
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import openpyxl
import pytest
from django.test import Client
from django.utils import translation
from PIL import Image
from pypdf import PdfReader

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, need
from workshop import closing, result_ticket, results, session_control
from workshop.exercise_format import TEXT_LIMITS
from workshop.limits import GROUP_NAME_MAX_CHARS, NOTE_MAX_CHARS, TITLE_MAX_CHARS
from workshop.models import Note, Participant, Position

# These tests read the app in-process and then open Chromium on their own, one at a time: the
# shared `browser` fixture would keep a Playwright loop running while Django is called.
pytestmark = pytest.mark.django_db


@pytest.fixture
def full_workshop(workshop_session):
    """Twelve phones in two rounds and three groups (the third made in round 2), a "geen mening", notes."""
    return two_rounds(workshop_session)


# A title of the format's longest length with every character a CSS string or HTML would mangle.
LONG_TITLE = (
    'Gemeente "Oost-Betuwe" & partners <wijkteams> \N{EN DASH} Súdwest-Fryslân: strategiesessie wijkgericht werken, '
    "één dag in 2026 (Noord & Zuid)"
)[:TITLE_MAX_CHARS]


def longest(words: str, limit: int) -> str:
    """`words` repeated up to exactly `limit` characters: the longest text the format lets in."""
    text = (words * (limit // len(words) + 1))[:limit]
    return text[:-1] + "." if text.endswith(" ") else text


@pytest.fixture
def longest_workshop(exercise, fenna):
    """The two-round workshop with every text at its format's limit: title, labels, poles, profiles, notes, groups."""
    for slider in exercise.sliders.all():
        for language in ("nl", "en"):
            setattr(slider, f"label_{language}", longest("Verankering in de organisatie ", TEXT_LIMITS["label"]))
            setattr(slider, f"left_{language}", longest("Systeemwereld (overheidsgestuurd) ", TEXT_LIMITS["left"]))
            setattr(slider, f"right_{language}", longest("Leefwereld (bewonersgestuurd) ", TEXT_LIMITS["right"]))
        slider.save()
    for profile in exercise.profiles.all():
        for language in ("nl", "en"):
            setattr(profile, f"name_{language}", longest("Opgavegerichte gebiedsaanpak ", TEXT_LIMITS["name"]))
            setattr(profile, f"description_{language}", longest("Bewonersinitiatieven krijgen ruimte. ", 2000))
            setattr(profile, f"assignment_{language}", longest("Verbind leefwereld en systeemwereld. ", 2000))
        profile.save()
    session = session_control.create_session(facilitator=fenna, exercise=exercise, title=LONG_TITLE)
    session_control.start_positioning(session=session)
    return two_rounds(
        session, group_name=longest("Wijkteam Noord-Oost ", GROUP_NAME_MAX_CHARS - 2), note=NOTE_MAX_CHARS
    )


def two_rounds(session, *, group_name: str = "Trio", note: int = 0):
    closing.set_metadata(
        session=session, organisation_type="municipality", size_class="m", region="ut", context="Wijkteams in Noord"
    )
    sliders = list(session.exercise.sliders.order_by("order"))
    trio_a = session_control.add_group(session=session, name=f"{group_name} A")
    trio_b = session_control.add_group(session=session, name=f"{group_name} B")
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
    Note.objects.create(
        session=session,
        slider=sliders[0],
        round=1,
        text=longest("Wie bepaalt de agenda? ", note) if note else "Wie bepaalt de agenda?",
    )
    session_control.start_round_two(session=session)
    trio_c = session_control.add_group(session=session, name=f"{group_name} C")
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
def test_the_report_of_two_rounds_and_three_groups_fits_three_pages_each_at_least_a_third_used(
    fenna_client, full_workshop, language
):
    fenna_client.cookies["django_language"] = language
    response = fenna_client.get(f"/f/s/{full_workshop.code}/results.pdf")
    assert response["Content-Type"] == "application/pdf"
    pdf = response.content
    save_pages(pdf, f"report-{language}")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 3
    assert blank_pages(pdf) == []
    for number, (_width, height, found) in enumerate(words(pdf), start=1):
        body = [w for w in found if w.bottom < height - 17 * MM]  # the footer is not what fills a page
        top, bottom = 14 * MM, height - 17 * MM
        used = (max(w.bottom for w in body) - top) / (bottom - top)
        assert used > 1 / 3, f"page {number} is only {used:.0%} used"
    # Every plot explained and on a scale: a legend on each round's page, and 0, 50 and 100 under each of its plots.
    legend = {
        "nl": ["Band: de middelste helft", "Lijn: de mediaan", "Gestreept: de mediaan van ronde 1", "Pijl:"],
        "en": ["Band: the middle half", "Line: the median", "Dashed: the median of round 1", "Arrow:"],
    }[language]
    for number, page in ((2, reader.pages[1]), (3, reader.pages[2])):
        text = " ".join(page.extract_text().split())
        for entry in legend[: 2 if number == 2 else 4]:
            assert entry in text, (number, entry)
        found = [w.text for w in words(pdf)[number - 1][2]]
        sliders = full_workshop.exercise.sliders.count()
        assert found.count("0") >= sliders and found.count("50") >= sliders and found.count("100") >= sliders
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    with translation.override(language):
        for round in results.build(full_workshop)["rounds"]:
            assert round["profile"].name in text
            assert " ".join(round["profile"].assignment.split()) in text
    assert "Wie bepaalt de agenda?" in text and "Trio C" in text
    heading = {"nl": "Opdracht voor de grenswerker", "en": "Assignment for the boundary worker"}[language]
    assert heading in text


MM = 72 / 25.4  # PDF points per millimetre


@dataclass(frozen=True)
class Word:
    text: str
    left: float
    top: float
    right: float
    bottom: float


def words(pdf: bytes) -> list[tuple[float, float, list[Word]]]:
    """Per page: its width and height and every word with its box in points, as poppler's pdftotext lays them out."""
    out = subprocess.run(["pdftotext", "-bbox", "-", "-"], input=pdf, capture_output=True, check=True).stdout
    pages = []
    for page in ElementTree.fromstring(re.sub(rb"<!DOCTYPE[^>]*>", b"", out)).iter(
        "{http://www.w3.org/1999/xhtml}page"
    ):
        found = [
            Word(w.text or "", *(float(w.get(k)) for k in ("xMin", "yMin", "xMax", "yMax")))
            for w in page.iter("{http://www.w3.org/1999/xhtml}word")
        ]
        pages.append((float(page.get("width")), float(page.get("height")), found))
    return pages


def crossing(pdf: bytes, *, side_mm: float) -> list[str]:
    """Words whose box reaches past the left or right margin (half a point of slack for rounding)."""
    bad = []
    for number, (width, _height, found) in enumerate(words(pdf), start=1):
        for w in found:
            if w.left < side_mm * MM - 0.5 or w.right > width - side_mm * MM + 0.5:
                bad.append(f"page {number}: {w.text!r} at {w.left / MM:.1f}\N{EN DASH}{w.right / MM:.1f} mm")
    return bad


def save_pages(pdf: bytes, name: str) -> None:
    """The PDF's pages as PNGs at 60 dpi under artifacts/, to look at."""
    folder = ROOT / "artifacts"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "60", "-png", "-", str(folder / name)], input=pdf, check=True)


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.slow
@pytest.mark.parametrize("language", ["nl", "en"])
def test_the_title_prints_verbatim_in_every_pages_footer_beside_its_page_number_on_one_line(
    fenna_client, longest_workshop, language
):
    fenna_client.cookies["django_language"] = language
    pdf = fenna_client.get(f"/f/s/{longest_workshop.code}/results.pdf").content
    save_pages(pdf, f"report-longest-{language}")
    reader = PdfReader(io.BytesIO(pdf))
    pages = words(pdf)
    assert len(pages) == len(reader.pages) > 1
    for number, (page, (_width, height, found)) in enumerate(zip(reader.pages, pages, strict=True), start=1):
        text = page.extract_text()
        assert "u002" not in text and "u0026" not in text and "&amp;" not in text and "&lt;" not in text
        footer = [w for w in found if w.top > height - 17 * MM]
        footer_text = squeezed(" ".join(w.text for w in footer))
        assert squeezed(f"{LONG_TITLE} · {longest_workshop.code}") in footer_text, f"page {number}"
        counter = [w for w in footer if w.text in (str(number), "/", str(len(pages)))][-3:]
        assert [w.text for w in counter] == [str(number), "/", str(len(pages))]
        assert len({round(w.top) for w in counter}) == 1, f"page {number}: the page number is split over lines"


@pytest.mark.slow
@pytest.mark.parametrize("language", ["nl", "en"])
def test_no_text_of_the_report_or_a_phones_pdf_crosses_a_margin_at_the_formats_longest_texts(
    fenna_client, longest_workshop, language
):
    fenna_client.cookies["django_language"] = language
    report = fenna_client.get(f"/f/s/{longest_workshop.code}/results.pdf").content
    assert crossing(report, side_mm=14) == []
    own: dict[int, dict[str, int | str]] = {}
    for (number, r, key), value in longest_workshop.sent.items():
        if number == 4:
            own.setdefault(r, {})[key] = "abstain" if value is None else value
    client = Client()
    client.cookies["django_language"] = language
    ticket = {"ticket": result_ticket.issue(code=longest_workshop.code, own=own)}
    personal = client.post(f"/j/{longest_workshop.code}/result.pdf", ticket).content
    save_pages(personal, f"personal-longest-{language}")
    assert crossing(personal, side_mm=14) == []


def test_the_workbook_reads_back_exactly_what_the_phones_sent(fenna_client, full_workshop):
    response = fenna_client.get(f"/f/s/{full_workshop.code}/results.xlsx")
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Samenvatting", "Ronde 1", "Ronde 2", "Context en notities"]
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
    summary = list(book["Samenvatting"].iter_rows(values_only=True))
    header = next(row for row in summary if row and row[0] == "Schuif")
    assert [str(c).split(" (")[0] for c in header[4:7]] == ["Trio A", "Trio B", "Trio C"]


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
    """One document: the page's print button opens the report's own PDF (the same bytes' pages), and a
    print of the page itself says on top that it is a working copy and where the report is."""
    need(shutil.which(CHROMIUM) is not None, f"Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    html = fenna_client.get(f"/f/s/{full_workshop.code}/results/").content.decode()
    button = re.search(r'<a class="button" href="([^"]+)"[^>]*data-print-report>([^<]+)</a>', html)
    assert button and button.group(2) == "Rapport afdrukken"
    opened = fenna_client.get(button.group(1).replace("&amp;", "&"))
    assert opened["Content-Disposition"].startswith("inline;")
    report = fenna_client.get(f"/f/s/{full_workshop.code}/results.pdf").content
    pages = [PdfReader(io.BytesIO(pdf)).pages for pdf in (opened.content, report)]
    assert [len(p) for p in pages] == [3, 3]
    assert [p.extract_text() for p in pages[0]][1:] == [p.extract_text() for p in pages[1]][
        1:
    ]  # page 1 has a print date
    css = (ROOT / "static" / "workshop" / "app.css").as_uri()
    page_file = tmp_path / "results.html"
    page_file.write_text(re.sub(r'href="[^"]*app[^"]*\.css"', f'href="{css}"', html), encoding="utf-8")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(page_file.as_uri())
        assert page.locator(".print-notice").is_hidden()  # on screen the buttons say it
        printed = page.pdf(prefer_css_page_size=True)
        browser.close()
    first = " ".join(PdfReader(io.BytesIO(printed)).pages[0].extract_text().split())
    assert first.startswith("Dit is een afdruk van de resultatenpagina als werkversie.")
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
    save_pages(response.content, "personal")
    reader = PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) == 1 and blank_pages(response.content) == []
    assert crossing(response.content, side_mm=14) == []
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
    """At 375 x 667: the room's outcome as the room's, this phone's own positions in both rounds beside the room's
    medians, "geen mening" in words, no "not open / typo" under it, and after switching to English the
    exercise's texts in English (the phone keeps keys and numbers; the page gives the words)."""
    need(shutil.which(CHROMIUM) is not None, f"Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    pages = {}
    for language in ("nl", "en"):
        client.cookies["django_language"] = language
        html = client.get(f"/j/{full_workshop.code}/").content.decode()
        assert 'id="kept-result"' in html and "csrfmiddlewaretoken" in html and 'id="kept-texts"' in html
        pages[language] = html
    # The page as served, beside the static files: its script is a module, which a browser loads over HTTP only.
    for language, html in pages.items():
        (tmp_path / f"ended-{language}.html").write_text(html, encoding="utf-8")
    (tmp_path / "static").symlink_to(ROOT / "static")
    key = f"schuifoefening:{full_workshop.code}"
    with translation.override("nl"):
        final = results.build(full_workshop)["rounds"][-1]["profile"]
    kept = {
        "version": 2,
        "round": "2",
        "profile": {"key": final.key, "name": final.name_nl, "description": "…", "assignment": "…"},
        "rounds": {"1": {"medians": {"sturing": 38.5, "regie": 56}}, "2": {"medians": {"sturing": 60, "regie": 27.5}}},
        "own": {"1": {"sturing": 14, "regie": "abstain"}, "2": {"sturing": 70, "regie": None}},
        "sliders": [{"key": "sturing", "label": "Sturing"}, {"key": "regie", "label": "Regie"}],
        "ticket": "the-signed-ticket",
    }
    folder = ROOT / "artifacts"
    folder.mkdir(exist_ok=True)
    with static_server(tmp_path) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 375, "height": 667})
        page.goto(f"{base}/ended-nl.html")
        assert page.locator("#kept-result").is_hidden()  # another phone, or none: nothing kept
        assert page.locator("#not-open").is_visible()
        page.evaluate("([key, kept]) => localStorage.setItem(key + ':final', JSON.stringify(kept))", [key, kept])
        page.reload()
        assert page.locator("#kept-result").is_visible()
        assert page.locator("#not-open").is_hidden()  # no "typo in the code" under the result
        assert "Waar de zaal uitkwam" in page.locator("#kept-result .eyebrow").first.text_content()
        assert page.locator("#kept-name").text_content() == final.name_nl
        assert page.locator("#kept-assignment").text_content() == final.assignment_nl
        captions = page.locator("#kept-result caption").all_inner_texts()
        assert captions == ["Ronde 1: nu", "Ronde 2: gewenst"]
        assert page.locator("#kept-rows tr").all_inner_texts() == ["Sturing\t14\t38,5", "Regie\tgeen mening\t56"]
        assert page.locator("#kept-rows-2 tr").all_inner_texts() == ["Sturing\t70\t60", "Regie\tniet geplaatst\t27,5"]
        assert page.locator("#kept-values input[name=ticket]").input_value() == "the-signed-ticket"
        assert page.locator("#kept-values input").count() == 1
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"the page scrolls sideways: {width}px"
        page.screenshot(path=str(folder / "phone-kept-result-375-nl.png"), full_page=True)
        page.goto(f"{base}/ended-en.html")  # the same phone after switching to English
        assert page.locator("#kept-name").text_content() == final.name_en
        assert page.locator("#kept-assignment").text_content() == final.assignment_en
        assert page.locator("#kept-rows tr").all_inner_texts() == ["Steering\t14\t38.5", "Lead\tno opinion\t56"]
        assert "Where the room ended up" in page.locator("#kept-result .eyebrow").first.text_content()
        page.screenshot(path=str(folder / "phone-kept-result-375-en.png"), full_page=True)
        browser.close()
