"""The results page and its downloads: CSV, JSON and SVG, checked row by row."""

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest
from django.test import Client

from workshop import closing, session_control
from workshop.models import Note, Participant, Position

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished(workshop_session):
    """Two rounds, a group, a "geen mening" and a note."""
    session = workshop_session
    group = session_control.add_group(session=session, name="Trio A")
    sliders = {s.key: s for s in session.exercise.sliders.all()}
    first = Participant.objects.create(session=session, token_hash="a" * 64, group=group)
    second = Participant.objects.create(session=session, token_hash="b" * 64)
    for key in sliders:
        Position.objects.create(participant=first, slider=sliders[key], round=1, value=20)
        Position.objects.create(participant=second, slider=sliders[key], round=1, value=40)
    Position.objects.filter(participant=second, slider=sliders["regie"]).update(value=None)
    session_control.start_round_two(session=session)
    Position.objects.create(participant=first, slider=sliders["regie"], round=2, value=90)
    Note.objects.create(session=session, slider=sliders["regie"], round=1, text="Wie bepaalt de agenda?")
    closing.close_session(session=session)
    return session


def test_the_results_page_shows_both_rounds_profiles_shift_and_notes(fenna_client, finished):
    html = fenna_client.get(f"/f/s/{finished.code}/results/").content.decode()
    assert "Ronde 1: hoe is het nu georganiseerd?" in html and "Ronde 2: hoe willen we het hebben?" in html
    assert 'data-testid="results-profile-1"' in html and 'data-testid="results-profile-2"' in html
    assert "Van nu naar gewenst" in html
    assert "Wie bepaalt de agenda?" in html
    assert "1 geen mening" in html
    assert "Trio A" in html


def test_the_csv_has_one_row_per_pseudonym_round_and_slider(fenna_client, finished):
    response = fenna_client.get(f"/f/s/{finished.code}/results.csv")
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only after a byte order mark
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == ["participant", "group", "round", "slider", "value"]
    body = rows[1:]
    assert len(body) == Position.objects.count() == 11
    # Trio A is one person: too small to show, so P1's rows carry no group.
    assert ["P1", "", "1", "sturing", "20"] in body
    assert ["P2", "", "1", "regie", ""] in body  # geen mening
    assert ["P1", "", "2", "regie", "90"] in body
    assert not any(row[1] for row in body)
    text = b"".join(fenna_client.get(f"/f/s/{finished.code}/results.csv").streaming_content).decode()
    assert "a" * 64 not in text and "b" * 64 not in text


def test_the_json_follows_the_documented_schema(fenna_client, finished):
    data = json.loads(fenna_client.get(f"/f/s/{finished.code}/results.json").content)
    assert data["format"] == "schuifoefening-results/1"
    assert data["session"]["rounds"] == 2 and data["session"]["status"] == "closed"
    assert [p["participant"] for p in data["participants"]] == ["P1", "P2"]
    round_one = data["rounds"][0]
    regie = next(s for s in round_one["sliders"] if s["key"] == "regie")
    assert (regie["n"], regie["median"], regie["abstained"], regie["note"]) == (1, 20, 1, "Wie bepaalt de agenda?")
    sturing = next(s for s in round_one["sliders"] if s["key"] == "sturing")
    assert (sturing["n"], sturing["median"]) == (2, 30)
    assert round_one["profile"]["key"]
    assert len(data["positions"]) == 11
    assert {"participant": "P1", "group": None, "round": 2, "slider": "regie", "value": 90} in data["positions"]
    assert data["participants"][0] == {"participant": "P1", "group": None}  # a group of one is not shown
    [trio] = data["groups_result"]
    assert trio["medians"] == dict.fromkeys(trio["medians"]) and trio["profile"] is None
    assert trio["counts"]["regie"] == 1


def test_a_chart_downloads_as_svg(fenna_client, finished):
    response = fenna_client.get(f"/f/s/{finished.code}/results/1/sturing.svg")
    assert response["Content-Type"] == "image/svg+xml"
    root = ET.fromstring(response.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(root.findall(".//{http://www.w3.org/2000/svg}circle")) == 2
    text = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    slider = finished.exercise.sliders.get(key="sturing")
    assert root.find("{http://www.w3.org/2000/svg}title").text.startswith(slider.label)
    assert slider.label in text and "ronde 1" in text and slider.left in text and slider.right in text
    assert "n = 2" in text and "mediaan 30" in text and "middelste helft 25\N{EN DASH}35" in text
    assert fenna_client.get(f"/f/s/{finished.code}/results/3/sturing.svg").status_code == 404
    assert fenna_client.get(f"/f/s/{finished.code}/results/1/nope.svg").status_code == 404


def test_another_facilitator_gets_no_results(otto, finished):
    client = Client()
    client.force_login(otto)
    for url in ["results/", "results.csv", "results.json", "results/1/sturing.svg"]:
        assert client.get(f"/f/s/{finished.code}/{url}").status_code == 404


def test_a_group_shows_its_name_and_medians_only_from_three_answers_on(fenna_client, workshop_session):
    session = workshop_session
    team = session_control.add_group(session=session, name="Team Centrum")
    solo = session_control.add_group(session=session, name="Bewonersraad")
    sliders = {s.key: s for s in session.exercise.sliders.all()}
    for i, value in enumerate((30, 50, 70)):
        member = Participant.objects.create(session=session, token_hash=f"{i}" * 64, group=team)
        for key in sliders:
            Position.objects.create(participant=member, slider=sliders[key], value=value)
    alone = Participant.objects.create(session=session, token_hash="s" * 64, group=solo)
    for key in sliders:
        Position.objects.create(participant=alone, slider=sliders[key], value=95)
    closing.close_session(session=session)
    data = json.loads(fenna_client.get(f"/f/s/{session.code}/results.json").content)
    shown = {g["group"]: g for g in data["groups_result"]}
    assert shown["Team Centrum"]["medians"]["sturing"] == 50 and shown["Team Centrum"]["profile"] is not None
    assert shown["Bewonersraad"]["medians"]["sturing"] is None and shown["Bewonersraad"]["profile"] is None
    groups = {p["group"] for p in data["positions"]}
    assert groups == {"Team Centrum", None}
    body = b"".join(fenna_client.get(f"/f/s/{session.code}/results.csv").streaming_content).decode("utf-8-sig")
    assert "Bewonersraad" not in body and "Team Centrum" in body
    assert "95" not in fenna_client.get(f"/f/s/{session.code}/results/").content.decode().split("Bewonersraad")[1][:400]


def csv_body(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    return b"".join(response.streaming_content)


def test_the_dutch_page_offers_the_csv_a_dutch_excel_opens_as_columns_and_the_english_page_the_international_one(
    fenna_client, finished
):
    dutch = fenna_client.get(f"/f/s/{finished.code}/results/").content.decode()
    assert f'href="/f/s/{finished.code}/results.csv?dialect=excel-nl"' in dutch
    body = csv_body(fenna_client, f"/f/s/{finished.code}/results.csv?dialect=excel-nl")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["participant", "group", "round", "slider", "value"]
    assert ["P1", "", "1", "sturing", "20"] in rows
    assert "," not in body.decode("utf-8-sig")  # a Dutch Excel would read a comma as a decimal mark
    fenna_client.cookies["django_language"] = "en"
    english = fenna_client.get(f"/f/s/{finished.code}/results/").content.decode()
    assert f'href="/f/s/{finished.code}/results.csv"' in english and "dialect=" not in english
    body = csv_body(fenna_client, f"/f/s/{finished.code}/results.csv")
    assert body.decode("utf-8-sig").splitlines()[0] == "participant,group,round,slider,value"
    assert fenna_client.get(f"/f/s/{finished.code}/results.csv?dialect=excel-de").status_code == 400


def test_a_dutch_excel_csv_writes_decimals_with_a_comma():
    from workshop.results import csv_number

    assert csv_number(38.5, dialect="excel-nl") == "38,5" and csv_number(38.5, dialect="international") == "38.5"
    assert csv_number(40, dialect="excel-nl") == "40"


def test_every_csv_the_app_writes_starts_with_a_byte_order_mark(fenna_client, researcher_client, finished):
    for url in (f"/f/s/{finished.code}/results.csv", f"/f/s/{finished.code}/results.csv?dialect=excel-nl"):
        assert csv_body(fenna_client, url).startswith(b"\xef\xbb\xbf"), url
    archive = csv_body(researcher_client, "/archive/export.csv")
    assert archive.startswith(b"\xef\xbb\xbfarchive,")
    assert archive.count(b"\xef\xbb\xbf") == 1


def test_the_json_flags_split_sliders_and_rounds_its_numbers_as_documented(fenna_client, workshop_session):
    session = workshop_session
    sliders = {s.key: s for s in session.exercise.sliders.all()}
    for i, value in enumerate((3, 10, 90, 97, 33)):
        phone = Participant.objects.create(session=session, token_hash=f"{i}" * 64)
        for key in sliders:
            Position.objects.create(participant=phone, slider=sliders[key], value=value if key == "regie" else 50 + i)
    closing.close_session(session=session)
    data = json.loads(fenna_client.get(f"/f/s/{session.code}/results.json").content)
    by_key = {s["key"]: s for s in data["rounds"][0]["sliders"]}
    assert by_key["regie"]["split"] is True and by_key["sturing"]["split"] is False
    for slider in by_key.values():
        for name in ("mean", "median", "q1", "q3", "stdev"):
            value = slider[name]
            assert value is None or round(value, 1) == value, (name, value)
        assert slider["consensus"] is None or round(slider["consensus"], 2) == slider["consensus"]
    assert by_key["regie"]["mean"] == 46.6
    for match in data["rounds"][0]["matches"]:
        assert match["match"] is None or round(match["match"], 1) == match["match"]


def test_the_dutch_download_labels_read_in_dutch_word_order(fenna_client, finished):
    html = fenna_client.get(f"/f/s/{finished.code}/results/").content.decode()
    for label in (
        "Rapport downloaden (pdf)",
        "Rapport afdrukken",
        "Excel downloaden",
        "CSV downloaden",
        "JSON downloaden",
    ):
        assert label in html
    assert "Download rapport" not in html and "Download Excel" not in html


@pytest.mark.slow  # a real PDF
def test_the_print_button_hands_over_the_report_itself(fenna_client, finished):
    html = fenna_client.get(f"/f/s/{finished.code}/results/").content.decode()
    assert f'href="/f/s/{finished.code}/results.pdf?view=1"' in html
    assert "data-print>" not in html  # no window.print() of the page as a second document
    response = fenna_client.get(f"/f/s/{finished.code}/results.pdf?view=1")
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline;")
    assert fenna_client.get(f"/f/s/{finished.code}/results.pdf")["Content-Disposition"].startswith("attachment;")
