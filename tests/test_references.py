"""References ("vergelijk met het land"): computed from archives, published by research staff, chosen by a
facilitator, shown to the room only after its own reveal, and carried home (issue 27)."""

import io
import json
import secrets
import shutil
import statistics
import subprocess
import tempfile
from datetime import date
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook
from pypdf import PdfReader

from tests.conftest import SLIDERS, need
from workshop import (
    archive_exports,
    closing,
    live_view,
    phone_view,
    references,
    references_service,
    report,
    session_control,
    workbook,
)
from workshop.models import Archive, ArchiveSummary, Exercise, Participant, Position, Reference, Session
from workshop.session_control import ControlError
from workshop.session_info import info_for

KEYS = list(SLIDERS)


# The computation on its own (pure) -------------------------------------------------------------


def figures(medians: dict[str, float], *, n: int = 5, profile: str = "beheer", round2: dict | None = None, ex=1):
    summaries = {(1, k): (n, m) for k, m in medians.items()}
    profiles = {1: profile}
    if round2 is not None:
        summaries.update({(2, k): (n, m) for k, m in round2.items()})
        profiles[2] = "bewoners"
    return references.SessionFigures(exercise=ex, summaries=summaries, profiles=profiles)


def test_a_reference_holds_the_median_and_middle_half_of_the_sessions_medians():
    sessions = [figures(dict.fromkeys(KEYS, m)) for m in (10, 20, 30, 40, 50)]
    data = references.build(sessions, sliders=KEYS, min_answers=3)
    assert data["sessions"] == 5
    entry = data["rounds"]["1"]["sliders"]["regie"]
    assert entry == {"median": 30.0, "q1": 20.0, "q3": 40.0, "sessions": 5}
    assert data["rounds"]["1"]["profiles"] == {"beheer": 5}
    assert "2" not in data["rounds"]


def test_a_session_below_the_suppression_rule_contributes_nothing():
    counted = [figures(dict.fromkeys(KEYS, m)) for m in (10, 20, 30)]
    small = figures(dict.fromkeys(KEYS, 99), n=2, profile="bewoners")
    one_slider_short = figures({**dict.fromkeys(KEYS, 99), "regie": 99}, profile="bewoners")
    one_slider_short = references.SessionFigures(1, {**one_slider_short.summaries, (1, "regie"): (2, 99)}, {1: "x"})
    assert references.build([*counted, small, one_slider_short], sliders=KEYS, min_answers=3) == references.build(
        counted, sliders=KEYS, min_answers=3
    )


def test_a_reference_combines_only_one_exercise_version():
    with pytest.raises(ValueError, match="one exercise version"):
        references.build(
            [figures(dict.fromkeys(KEYS, 1)), figures(dict.fromkeys(KEYS, 1), ex=2)], sliders=KEYS, min_answers=3
        )


medians = st.floats(min_value=0, max_value=100, allow_nan=False).map(lambda v: round(v * 2) / 2)


@given(st.lists(st.tuples(medians, st.integers(0, 8), st.sampled_from(["beheer", "bewoners", ""])), max_size=30))
def test_every_figure_of_a_reference_is_within_its_sessions_and_only_counted_sessions_count(rows):
    sessions = [figures(dict.fromkeys(KEYS, m), n=n, profile=p) for m, n, p in rows]
    data = references.build(sessions, sliders=KEYS, min_answers=3)
    counted = [m for m, n, _p in rows if n >= 3]
    assert data["sessions"] == len(counted)
    if not counted:
        assert data["rounds"] == {}
        return
    entry = data["rounds"]["1"]["sliders"]["sturing"]
    assert min(counted) <= entry["q1"] <= entry["median"] <= entry["q3"] <= max(counted)
    assert entry["median"] == statistics.median(counted)
    assert sum(data["rounds"]["1"]["profiles"].values()) == len([1 for _m, n, p in rows if n >= 3 and p])
    assert references.publishable(data, 10) == (len(counted) >= 10)


def test_the_room_is_placed_against_the_middle_half_and_its_profile_counted():
    sessions = [
        figures(dict.fromkeys(KEYS, m), profile=p)
        for m, p in zip((10, 20, 30, 40, 50, 60, 70, 80), "aabbbbbb", strict=True)
    ]
    data = references.build(sessions, sliders=KEYS, min_answers=3)
    found = references.compare(
        data, round=1, sliders=KEYS, medians={"sturing": 5, "regie": 50, "aanpak": 95}, profile="a"
    )
    places = {row.key: row.place for row in found.rows}
    assert (places["sturing"], places["regie"], places["aanpak"], places["horizon"]) == (
        "below",
        "within",
        "above",
        None,
    )
    assert (found.share.count, found.share.sessions, found.share.one_in) == (2, 8, 4)
    assert references.compare({"sessions": 0, "rounds": {}}, round=1, sliders=KEYS, medians={}) is None


def test_in_round_2_the_room_wants_to_go_against_where_others_are_and_want_to_go():
    sessions = [figures(dict.fromkeys(KEYS, m), round2=dict.fromkeys(KEYS, m + 30)) for m in (10, 20, 30, 40)] + [
        figures(dict.fromkeys(KEYS, 50))
    ]  # no round 2: counts where others are, not where they want to go
    data = references.build(sessions, sliders=KEYS, min_answers=3)
    assert (data["rounds"]["1"]["sessions"], data["rounds"]["2"]["sessions"]) == (5, 4)
    found = references.compare(
        data, round=2, sliders=KEYS, medians=dict.fromkeys(KEYS, 70), before=dict.fromkeys(KEYS, 20), profile="beheer"
    )
    row = found.rows[0]
    assert (row.before, row.room, row.band.median, row.band.sessions, row.desired.median) == (20, 70, 30.0, 5, 55.0)
    assert row.place == "above"
    # The room's desired profile among where the others are now.
    assert (found.share.count, found.share.sessions, found.round) == (5, 5, 2)


# Publishing from the archives ------------------------------------------------------------------


def archive(
    exercise: Exercise,
    medians: dict[str, float],
    *,
    n: int = 6,
    profile: str = "beheer",
    size="m",
    kind="municipality",
    rounds=1,
):
    made = Archive.objects.create(
        exercise=exercise,
        month=date(2026, 3, 1),
        participants=n,
        rounds=rounds,
        profile_now=profile if n >= 3 else "",
        size_class=size,
        organisation_type=kind,
    )
    sliders = {s.key: s for s in exercise.sliders.all()}
    ArchiveSummary.objects.bulk_create(
        ArchiveSummary(archive=made, round=1, slider=sliders[k], n=n, median=m, q1=m, q3=m) for k, m in medians.items()
    )
    return made


@pytest.fixture
def twelve(exercise):
    """Twelve archived sessions of size class m, municipalities; sturing's medians 10, 20, … 120/2."""
    return [
        archive(exercise, {**dict.fromkeys(KEYS, 50.0), "sturing": 5.0 * i}, profile="beheer" if i % 4 else "bewoners")
        for i in range(1, 13)
    ]


@pytest.mark.django_db
def test_research_staff_publish_a_reference_from_known_archives_and_every_figure_is_right(
    exercise, twelve, researcher_client
):
    archive(exercise, dict.fromkeys(KEYS, 99.0), n=2, profile="bewoners")  # too small: contributes nothing
    url = reverse("reference_publish") + "?size_class=m&organisation_type=municipality"
    page = researcher_client.get(reverse("archive_list") + "?size_class=m")
    assert "12 sessions of" in page.content.decode() or "12 sessies van" in page.content.decode()
    answer = researcher_client.post(url, {"name": "Gemeenten 50.000 tot 100.000", "description": "2026"})
    assert answer.status_code == 302
    reference = Reference.objects.get()
    assert (reference.sessions, reference.size_class, reference.organisation_type) == (12, "m", "municipality")
    sturing = reference.data["rounds"]["1"]["sliders"]["sturing"]
    values = [5.0 * i for i in range(1, 13)]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    assert sturing == {"median": 32.5, "q1": q1, "q3": q3, "sessions": 12}
    assert (q1, q3) == (18.75, 46.25)
    assert reference.data["rounds"]["1"]["sliders"]["regie"] == {"median": 50.0, "q1": 50.0, "q3": 50.0, "sessions": 12}
    assert reference.data["rounds"]["1"]["profiles"] == {"beheer": 9, "bewoners": 3}
    # It names no session and no municipality: nothing but figures, its filter and its own words.
    assert set(reference.data) == {"sessions", "rounds"}
    assert "Wijkteam" not in json.dumps(reference.data)


@pytest.mark.django_db
def test_a_reference_below_the_threshold_is_refused_and_nothing_is_written(
    exercise, twelve, researcher_client, settings
):
    settings.REFERENCE_MIN_SESSIONS = 13
    answer = researcher_client.post(reverse("reference_publish"), {"name": "Te klein"})
    assert answer.status_code == 409
    assert "13" in answer.content.decode() and "12" in answer.content.decode()
    assert not Reference.objects.exists()
    assert researcher_client.post(reverse("reference_publish") + "?period_from=nope", {"name": "x"}).status_code == 400
    assert Client().post(reverse("reference_publish"), {"name": "x"}).status_code == 302  # to the login


@pytest.mark.django_db
def test_a_reference_combines_only_the_selections_one_exercise_version(exercise, twelve):
    from workshop import exercises

    newer = exercises.new_exercise_version(exercise=exercise)
    archive(newer, dict.fromkeys(KEYS, 1.0))
    shown = references_service.preview(archives=Archive.objects.all())
    assert (shown.exercise, shown.sessions, shown.other_versions) == (exercise, 12, 1)


def exercise_data():
    from tests.conftest import DEFAULT_EXERCISE

    return json.loads(DEFAULT_EXERCISE.read_text())


def publish(archives=None):
    return references_service.publish(
        name="Gemeenten 50.000 tot 100.000",
        description="Sessies 2026",
        archives=archives if archives is not None else Archive.objects.all(),
        filters={"size_class": "m", "organisation_type": "municipality"},
    )


# Choosing one, and the reveal before the comparison --------------------------------------------


def run_to_reveal(session: Session, values=(30, 40, 50)) -> None:
    session_control.start_positioning(session=session)
    people = [Participant.objects.create(session=session, token_hash=secrets.token_hex(32)) for _ in values]
    for slider in session.exercise.sliders.all():
        Position.objects.bulk_create(
            Position(participant=p, slider=slider, round=1, value=v) for p, v in zip(people, values, strict=True)
        )
    from workshop import live_state

    live_state.rebuild(info_for(session))


def screen_context(session: Session) -> dict:
    session.refresh_from_db()
    info = info_for(session)
    return live_view.live_context(info, live_view.live_result(info), screen=True)


@pytest.mark.django_db
def test_the_comparison_is_refused_before_the_rooms_own_reveal_and_shown_after(lobby_session, twelve):
    references_service.choose(session=lobby_session, reference=publish())
    run_to_reveal(lobby_session)
    with pytest.raises(ControlError, match=r"Reveal the room's own profile first|Onthul eerst"):
        session_control.set_screen(session=lobby_session, view="compare")
    assert screen_context(lobby_session)["compare"] is None
    session_control.reveal_profile(session=lobby_session, revealed=True)
    session_control.set_screen(session=lobby_session, view="compare")
    shown = screen_context(lobby_session)["compare"]
    sturing = shown["rows"][0]
    assert (sturing["room"], sturing["band"]["median"], sturing["band"]["sessions"]) == (40.0, 32.5, 12)
    assert sturing["place"] == "within"
    assert shown["sessions"] == 12 and shown["name"] == "Gemeenten 50.000 tot 100.000"
    # Hiding the profile hides the comparison at once (the redaction), and a new reveal gives the profile the stage.
    session_control.reveal_profile(session=lobby_session, revealed=False)
    assert screen_context(lobby_session)["compare"] is None
    session_control.reveal_profile(session=lobby_session, revealed=True)
    assert screen_context(lobby_session)["compare"] is None
    lobby_session.refresh_from_db()
    assert lobby_session.screen == "room"


@pytest.mark.django_db
def test_the_control_panel_answers_409_for_compare_before_the_reveal(fenna_client, lobby_session, twelve):
    references_service.choose(session=lobby_session, reference=publish())
    run_to_reveal(lobby_session)
    url = reverse("control", args=[lobby_session.code, "screen"])
    assert fenna_client.post(url, {"view": "compare"}, HTTP_HX_REQUEST="true").status_code == 409
    session_control.reveal_profile(session=lobby_session, revealed=True)
    panel = fenna_client.get(reverse("dashboard", args=[lobby_session.code])).content.decode()
    assert 'data-shortcut="v"' in panel
    assert fenna_client.post(url, {"view": "compare"}, HTTP_HX_REQUEST="true").status_code == 200
    screen = fenna_client.get(reverse("screen", args=[lobby_session.code])).content.decode()
    assert 'data-testid="screen-compare"' in screen
    assert 'data-testid="compare-share"' in screen and ("of the 12" in screen or "van de 12" in screen)


@pytest.mark.django_db
def test_a_facilitator_is_suggested_the_reference_of_the_same_size_class_and_kind(fenna_client, exercise, twelve):
    other = references_service.publish(
        name="Groot", description="", archives=Archive.objects.all(), filters={"size_class": "xl"}
    )
    matching = publish()
    answer = fenna_client.post(
        reverse("facilitator_home"),
        {
            "title": "Wijkteam Zuid",
            "exercise": exercise.pk,
            "size_class": "m",
            "organisation_type": "municipality",
            "reference": "suggested",
        },
    )
    assert answer.status_code == 302
    session = Session.objects.get(title="Wijkteam Zuid")
    assert session.reference_id == matching.pk and session.reference_copy["sessions"] == 12
    assert [
        r.pk for r in references_service.suggested(exercise=exercise, organisation_type="municipality", size_class="m")
    ] == [matching.pk, other.pk]
    # Until it closes, the facilitator may change it.
    page = reverse("session_reference", args=[session.code])
    assert fenna_client.get(page).status_code == 200
    assert fenna_client.post(page, {"reference": str(other.pk), "size_class": "m"}).status_code == 302
    session.refresh_from_db()
    assert session.reference_copy["name"] == "Groot"
    assert fenna_client.post(page, {"reference": "999999"}).status_code == 400  # not a published reference


@pytest.mark.django_db
def test_a_withdrawn_reference_cannot_be_chosen_and_sessions_keep_their_copy(
    lobby_session, exercise, twelve, researcher_client
):
    reference = publish()
    references_service.choose(session=lobby_session, reference=reference)
    assert researcher_client.post(reverse("reference_withdraw", args=[reference.pk])).status_code == 302
    reference.refresh_from_db()
    assert not reference.published
    lobby_session.refresh_from_db()
    assert lobby_session.reference_copy["data"] == reference.data
    other = session_control.create_session(facilitator=lobby_session.facilitator, exercise=exercise, title="Later")
    with pytest.raises(ControlError, match=r"withdrawn|ingetrokken"):
        references_service.choose(session=other, reference=reference)


@pytest.mark.django_db
def test_a_session_never_appears_in_a_reference_that_it_shows(lobby_session, exercise, twelve):
    run_to_reveal(lobby_session)
    closed = closing.close_session(session=lobby_session)
    reference = publish()
    assert closed.pk in reference.archives
    # A closed session can no longer choose one; were it to, the service would refuse itself.
    with pytest.raises(ControlError, match=r"closed|afgesloten"):
        references_service.choose(session=lobby_session, reference=reference)


# Going home --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_report_workbook_archive_and_phones_carry_the_comparison(lobby_session, twelve):
    reference = publish()
    references_service.choose(session=lobby_session, reference=reference)
    run_to_reveal(lobby_session)
    session_control.reveal_profile(session=lobby_session, revealed=True)
    session_control.reveal_to_phones(session=lobby_session, revealed=True)
    info = info_for(Session.objects.get(pk=lobby_session.pk))
    state = phone_view._reveal(info, {"1": {"medians": dict.fromkeys(KEYS, 40.0), "best": "beheer"}})
    assert state["rounds"]["1"]["compare"]["sessions"] == 12
    assert state["rounds"]["1"]["compare"]["sliders"][0]["median"] == 32.5
    archived = closing.close_session(session=lobby_session)
    assert archived.reference == {
        "id": reference.pk,
        "name": reference.name,
        "made": timezone.localdate(reference.created_at).isoformat(),  # the site's day, not UTC's
        "sessions": 12,
    }
    exported = json.loads("".join(archive_exports.json_chunks(Archive.objects.filter(pk=archived.pk))))
    assert exported["archives"][0]["reference"]["sessions"] == 12
    session = Session.objects.get(pk=lobby_session.pk)
    html = report.render_to_string("workshop/report.html", report.context(session))
    assert 'data-testid="report-compare"' in html and reference.name in html
    book = load_workbook(io.BytesIO(workbook.xlsx(session)))
    sheet = book.worksheets[-1]  # "Context en notities": a sheet of its own would print a fifth page
    text = " ".join(str(c) for row in sheet.iter_rows(values_only=True) for c in row if c is not None)
    assert reference.name in text and "12 sessies" in text and "32,5" in text


@pytest.mark.slow
def test_a_printed_workbook_with_a_comparison_of_two_rounds_is_still_at_most_four_pages(lobby_session, twelve):
    soffice = shutil.which("soffice")
    need(soffice is not None, "LibreOffice (soffice) is not installed")
    references_service.choose(session=lobby_session, reference=publish())
    run_to_reveal(lobby_session)
    session_control.start_round_two(session=lobby_session)
    people = list(Participant.objects.filter(session=lobby_session))
    for slider in lobby_session.exercise.sliders.all():
        Position.objects.bulk_create(
            Position(participant=p, slider=slider, round=2, value=v) for p, v in zip(people, (60, 70, 80), strict=True)
        )
    closing.close_session(session=lobby_session)
    body = workbook.xlsx(Session.objects.get(pk=lobby_session.pk))
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "workbook.xlsx"
        source.write_bytes(body)
        command = [soffice, f"-env:UserInstallation=file://{folder}/profile", "--headless", "--convert-to", "pdf"]
        subprocess.run([*command, "--outdir", folder, str(source)], check=True, capture_output=True, timeout=180)
        pdf = (Path(folder) / "workbook.pdf").read_bytes()
    reader = PdfReader(io.BytesIO(pdf))
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "Vergeleken met andere sessies" in text and "12 sessies" in text
    assert len(reader.pages) <= 4, len(reader.pages)
