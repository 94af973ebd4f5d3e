"""Every download read back for a one-person group (issue 22): that person's answers never appear with the
group's name, in the results CSV, the JSON, the workbook, the PDF report and the SVG charts."""

import csv
import io
import json
import re
import xml.etree.ElementTree as ET

import openpyxl
import pytest
from pypdf import PdfReader

from workshop import closing, session_control
from workshop.models import Participant, Position

pytestmark = pytest.mark.django_db

SOLO = "Bewonersraad"
# The one member's answers: numbers that no median, count or match of this room comes to.
ALONE = {1: {"sturing": 93, "aanpak": 87, "verankering": 91, "regie": 83, "horizon": 97},
         2: {"sturing": 81, "aanpak": 89, "verankering": 79, "regie": 77, "horizon": 99}}  # fmt: skip
TEAM = (30, 50, 70)


@pytest.fixture
def solo_session(workshop_session):
    """Team Centrum (three people) and Bewonersraad (one), both rounds, closed."""
    session = workshop_session
    team = session_control.add_group(session=session, name="Team Centrum")
    solo = session_control.add_group(session=session, name=SOLO)
    sliders = {s.key: s for s in session.exercise.sliders.all()}
    members = [Participant.objects.create(session=session, token_hash=f"{i}" * 64, group=team) for i in range(3)]
    alone = Participant.objects.create(session=session, token_hash="s" * 64, group=solo)
    for round in (1, 2):
        if round == 2:
            session_control.start_round_two(session=session)
        for member, value in zip(members, TEAM, strict=True):
            for key in sliders:
                Position.objects.create(participant=member, slider=sliders[key], round=round, value=value + round)
        for key, value in ALONE[round].items():
            Position.objects.create(participant=alone, slider=sliders[key], round=round, value=value)
    closing.close_session(session=session)
    return session


def values_in(text: str) -> set[int]:
    """The person's answers that occur in the text as whole numbers."""
    found = {int(n) for n in re.findall(r"(?<![\d.,])\d+(?![\d.,]\d)", text)}
    return found & {v for answers in ALONE.values() for v in answers.values()}


def test_the_csv_never_puts_the_one_person_group_on_its_member_rows(fenna_client, solo_session):
    body = b"".join(fenna_client.get(f"/f/s/{solo_session.code}/results.csv").streaming_content)
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows and not [row for row in rows if row["group"] == SOLO]
    # The member's answers are there, for the room, without a group.
    mine = [row for row in rows if values_in(row["value"])]
    assert len(mine) == 10 and {row["group"] for row in mine} == {""}


def test_the_json_gives_the_one_person_group_its_counts_only(fenna_client, solo_session):
    data = json.loads(fenna_client.get(f"/f/s/{solo_session.code}/results.json").content)
    assert not [p for p in data["positions"] if p["group"] == SOLO]
    assert not [p for p in data["participants"] if p["group"] == SOLO]
    for entry in data["groups_result"]:
        if entry["group"] == SOLO:
            assert values_in(json.dumps(entry)) == set(), entry
            assert entry["profile"] is None and set(entry["medians"].values()) == {None}
            assert set(entry["counts"].values()) == {1}
    assert any(entry["group"] == SOLO for entry in data["groups_result"])


def test_the_workbook_never_shows_the_member_s_answers_beside_the_group(fenna_client, solo_session):
    book = openpyxl.load_workbook(io.BytesIO(fenna_client.get(f"/f/s/{solo_session.code}/results.xlsx").content))
    seen = 0
    for sheet in book.worksheets:
        for row in sheet.iter_rows(values_only=True):
            cells = [cell for cell in row if cell is not None]
            if any(SOLO in str(cell) for cell in cells):
                seen += 1
                assert values_in(" ".join(str(cell) for cell in cells)) == set(), (sheet.title, row)
    assert seen  # the group is in the workbook, with its count
    # Its member's answers are in the per-round sheets, without a group.
    answers = [row for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) if 93 in row or 99 in row]
    assert answers and not any(SOLO in str(cell) for row in answers for cell in row)


def test_the_pdf_report_shows_the_one_person_group_without_its_member_s_answers(fenna_client, solo_session):
    pdf = fenna_client.get(f"/f/s/{solo_session.code}/results.pdf").content
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    # The groups table: a column per group, a row per slider and the profile; the one-person group's column
    # has its count in the head and nothing else (elsewhere the PDF has the room's matches, any number).
    start = text.index(SOLO)
    table = text[text.rindex("\n", 0, start) : text.index("\n", text.index("Profiel", start))]
    assert table.count("\n") == 7, table  # its head, five sliders and the profile
    assert values_in(table) == set(), table
    assert "(n = 1)" in table
    for line in text.splitlines():
        if SOLO in line:
            assert values_in(line) == set(), line


def test_no_svg_chart_names_the_one_person_group(fenna_client, solo_session):
    for round in (1, 2):
        for slider in ALONE[round]:
            response = fenna_client.get(f"/f/s/{solo_session.code}/results/{round}/{slider}.svg")
            assert response.status_code == 200
            svg = response.content.decode()
            assert SOLO not in svg
            root = ET.fromstring(svg)
            # Every answer of the room is a dot, the member's among them, none labelled.
            assert len(root.findall(".//{http://www.w3.org/2000/svg}circle")) == 4
