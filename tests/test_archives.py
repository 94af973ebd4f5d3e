"""Anonymised archives for research staff."""

import csv
import io
import json
import re
import secrets
import tracemalloc
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from workshop import archive_exports, archive_overview, archives, closing, session_control
from workshop.models import (
    Archive,
    ArchiveGroup,
    ArchivePosition,
    ArchiveSummary,
    Group,
    Note,
    Participant,
    Position,
    Session,
)

pytestmark = pytest.mark.django_db


def join(session, n, group=None):
    return [
        Participant.objects.create(session=session, token_hash=secrets.token_hex(32), group=group) for _ in range(n)
    ]


def place(participants, key, values, round=1):
    session = participants[0].session
    slider = session.exercise.sliders.get(key=key)
    for participant, value in zip(participants, values, strict=True):
        Position.objects.update_or_create(
            participant=participant, slider=slider, round=round, defaults={"value": value}
        )


@pytest.fixture
def closed_archive(workshop_session):
    people = join(workshop_session, 4)
    place(people, "regie", [10, 50, 90, None])
    place(people, "sturing", [20, 30, 40, 50])
    return closing.close_session(session=workshop_session)


def test_closing_archives_with_pseudonyms_in_join_order_and_only_the_month(workshop_session):
    people = join(workshop_session, 3)
    place(people, "regie", [10, 50, 90])
    tokens = set(Participant.objects.values_list("token_hash", flat=True))
    archive = closing.close_session(session=workshop_session)
    assert archive.month == timezone.localtime(workshop_session.created_at).date().replace(day=1)
    rows = list(ArchivePosition.objects.filter(archive=archive).values_list("participant", "slider__key", "value"))
    assert sorted(rows) == [(1, "regie", 10), (2, "regie", 50), (3, "regie", 90)]
    # No token survives anywhere: the phones' hashes were overwritten too.
    assert not tokens & set(Participant.objects.values_list("token_hash", flat=True))
    archived_fields = {f.name for model in (Archive, ArchivePosition, ArchiveGroup) for f in model._meta.fields}
    assert not any("token" in name or "time" in name or name.endswith("_at") for name in archived_fields)


def test_only_metadata_that_was_entered_is_kept(workshop_session):
    closing.set_metadata(
        session=workshop_session, organisation_type="municipality", size_class="", region="ut", context=""
    )
    archive = closing.close_session(session=workshop_session)
    assert (archive.organisation_type, archive.size_class, archive.region, archive.context) == (
        "municipality",
        "",
        "ut",
        "",
    )


def test_closing_twice_archives_once(workshop_session):
    first = closing.close_session(session=workshop_session)
    assert archives.archive_session(session=workshop_session) == first
    assert Archive.objects.count() == 1


def test_the_archive_keeps_rounds_profiles_groups_summaries_and_notes(workshop_session):
    group = session_control.add_group(session=workshop_session, name="Trio A")
    people = join(workshop_session, 3, group=group)
    for key, value in {"sturing": 85, "aanpak": 55, "verankering": 35, "regie": 90, "horizon": 35}.items():
        place(people, key, [value] * 3)
    session_control.start_round_two(session=workshop_session)
    place(people, "regie", [20, 20, 20], round=2)
    slider = workshop_session.exercise.sliders.get(key="regie")
    session_control.save_note(session=workshop_session, slider=slider, round=1, text="Bewoners voorop")
    archive = closing.close_session(session=workshop_session)
    assert (archive.rounds, archive.profile_now) == (2, "bewoners")
    assert archive.profile_desired
    assert list(archive.groups.values_list("name", "participants")) == [("Trio A", 3)]
    regie = ArchiveSummary.objects.get(archive=archive, round=1, slider__key="regie")
    assert (regie.n, regie.median) == (3, 90)
    assert list(archive.notes.values_list("text", flat=True)) == ["Bewoners voorop"]


def test_idle_sessions_are_archived_and_busy_ones_are_not(workshop_session, fenna, exercise):
    busy = session_control.create_session(facilitator=fenna, exercise=exercise, title="Bezig")
    Session.objects.filter(pk=workshop_session.pk).update(last_activity=timezone.now() - timedelta(hours=13))
    Session.objects.filter(pk=busy.pk).update(last_activity=timezone.now() - timedelta(hours=1))
    assert closing.archive_idle_sessions() == 1
    assert Session.objects.get(pk=workshop_session.pk).status == "closed"
    assert Session.objects.get(pk=busy.pk).status == "lobby"
    assert Archive.objects.filter(session=workshop_session).exists()


def make_archive(exercise, *, participants, month=date(2026, 3, 1), now="beheer", desired="", **meta):
    archive = Archive.objects.create(
        exercise=exercise,
        month=month,
        participants=participants,
        rounds=2 if desired else 1,
        profile_now=now,
        profile_desired=desired,
        **meta,
    )
    slider = exercise.sliders.get(key="regie")
    ArchivePosition.objects.bulk_create(
        ArchivePosition(archive=archive, participant=p, round=1, slider=slider, value=10 * p)
        for p in range(1, participants + 1)
    )
    return archive


@pytest.mark.parametrize(("participants", "dots"), [(2, 0), (3, 3)])
def test_a_slider_with_too_few_answers_shows_its_count_only(researcher_client, exercise, participants, dots):
    archive = make_archive(exercise, participants=participants)
    html = researcher_client.get(f"/archive/{archive.pk}/").content.decode()
    assert html.count('class="dot"') == dots
    assert ('data-testid="suppressed"' in html) is (dots == 0)
    assert ("mediaan" in html.split('data-slider="regie"')[1].split("</li>")[0]) is (dots > 0)


def export(client, query=""):
    csv_body = b"".join(client.get(f"/archive/export.csv{query}").streaming_content).decode()
    data = json.loads(b"".join(client.get(f"/archive/export.json{query}").streaming_content))
    return list(csv.DictReader(io.StringIO(csv_body))), data


def test_suppression_counts_answers_not_phones_in_every_output(researcher_client, workshop_session):
    people = join(workshop_session, 5)
    place(people, "regie", [10, 50, None, None, None])  # five phones, two answers: q1 and q3 would give both away
    place(people, "sturing", [20, 30, 40, 50, 60])
    archive = closing.close_session(session=workshop_session)
    rows, data = export(researcher_client)
    assert {r["slider"] for r in rows} == {"sturing"} and len(rows) == 5
    assert {p["slider"] for p in data["archives"][0]["positions"]} == {"sturing"}
    summaries = {s["slider"]: s for s in data["archives"][0]["summaries"]}
    assert summaries["regie"] == {
        "round": 1,
        "slider": "regie",
        "n": 2,
        "median": None,
        "q1": None,
        "q3": None,
        "abstained": 3,
    }
    assert summaries["sturing"]["median"] == 40
    card = researcher_client.get(f"/archive/{archive.pk}/").content.decode().split('data-slider="regie"')[1]
    card = card.split("</li>")[0]
    assert 'class="iqr"' not in card and 'class="median"' not in card and 'class="dot"' not in card
    assert "n = 2" in card and "mediaan" not in card


def test_a_single_answer_shows_no_median(researcher_client, workshop_session):
    people = join(workshop_session, 3)
    place(people, "regie", [77, None, None])
    archive = closing.close_session(session=workshop_session)
    _rows, data = export(researcher_client)
    assert {s["slider"]: s["median"] for s in data["archives"][0]["summaries"]}["regie"] is None
    page = researcher_client.get(f"/archive/{archive.pk}/").content.decode()
    # The CSRF tokens are random text that may hold "77" by chance; the value must be nowhere else.
    assert "77" not in re.sub(r"[A-Za-z0-9]{32,}", "", page)


def test_a_small_group_is_unnamed_and_merged_into_small_groups(researcher_client, workshop_session):
    big = session_control.add_group(session=workshop_session, name="Groot")
    solo = session_control.add_group(session=workshop_session, name="Solo")
    duo = session_control.add_group(session=workshop_session, name="Duo")
    place(join(workshop_session, 3, group=big), "regie", [1, 2, 3])
    place(join(workshop_session, 1, group=solo), "regie", [4])
    place(join(workshop_session, 2, group=duo), "regie", [5, 6])
    archive = closing.close_session(session=workshop_session)
    rows, data = export(researcher_client)
    assert {r["value"]: r["group"] for r in rows} == {
        "1": "Groot",
        "2": "Groot",
        "3": "Groot",
        "4": "",
        "5": "",
        "6": "",
    }  # a member of a small group carries no group in any export
    groups = data["archives"][0]["groups"]
    assert [(g["name"], g["participants"], g["profile"]) for g in groups][1] == ("kleine groepen", 3, None)
    html = researcher_client.get(f"/archive/{archive.pk}/").content.decode()
    for content in (html, json.dumps(data), json.dumps(rows)):
        assert "Solo" not in content and "Duo" not in content


def test_a_one_person_group_shows_nothing_and_small_groups_are_never_fewer_than_the_threshold(
    researcher_client, workshop_session
):
    solo = session_control.add_group(session=workshop_session, name="Solo")
    place(join(workshop_session, 1, group=solo), "regie", [83])
    place(join(workshop_session, 3), "regie", [10, 20, 30])
    archive = closing.close_session(session=workshop_session)
    page = researcher_client.get(f"/archive/{archive.pk}/").content.decode()
    assert "kleine groepen" not in page and "Solo" not in page  # one person is no group of "small groups"
    rows, data = export(researcher_client)
    assert {r["group"] for r in rows} == {""} and data["archives"][0]["groups"] == []


def test_archives_are_round_true(researcher_client, workshop_session):
    sliders = {s.key: s for s in workshop_session.exercise.sliders.all()}
    people = join(workshop_session, 3)
    for participant in people:
        Position.objects.create(participant=participant, slider=sliders["regie"], round=1, value=40)
    session_control.start_round_two(session=workshop_session)
    later = session_control.add_group(session=workshop_session, name="Later")
    Participant.objects.filter(pk__in=[p.pk for p in people]).update(group=later)
    for participant in people:
        Position.objects.create(participant=participant, slider=sliders["regie"], round=2, value=80)
    closing.close_session(session=workshop_session)
    rows, data = export(researcher_client)
    assert {(r["round"], r["group"]) for r in rows} == {("1", ""), ("2", "Later")}
    assert {(p["round"], p["group"]) for p in data["archives"][0]["positions"]} == {(1, None), (2, "Later")}


def test_an_invalid_filter_is_refused_by_the_page_and_every_export(researcher_client, closed_archive):
    for url in ["/archive/", "/archive/export.csv", "/archive/export.json"]:
        assert researcher_client.get(f"{url}?period_from=maart").status_code == 400
        assert researcher_client.get(f"{url}?region=ut").status_code == 200


def test_the_csv_matches_the_positions_that_went_in(researcher_client, closed_archive):
    Archive.objects.filter(pk=closed_archive.pk).update(region="ut", organisation_type="municipality")
    body = b"".join(researcher_client.get("/archive/export.csv").streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == Position.objects.count() == 8
    month = closed_archive.month.strftime("%Y-%m")
    expected = {("P1", "regie", "10"), ("P2", "regie", "50"), ("P4", "regie", ""), ("P1", "sturing", "20")}
    assert expected <= {(r["participant"], r["slider"], r["value"]) for r in rows}
    assert all(r["month"] == month and r["region"] == "ut" and r["round"] == "1" for r in rows)


def test_filters_and_overview(researcher_client, exercise):
    make_archive(exercise, participants=4, month=date(2026, 1, 1), now="beheer", desired="bewoners", region="ut")
    make_archive(exercise, participants=5, month=date(2026, 2, 1), now="beheer", desired="gebiedsaanpak")
    make_archive(exercise, participants=6, month=date(2026, 7, 1), now="bewoners", organisation_type="housing")

    def sessions(query):
        response = researcher_client.get(f"/archive/?{query}")
        assert response.status_code == 200
        return int(response.content.decode().split('data-testid="archive-sessions">')[1].split("<")[0])

    assert sessions("") == 3
    assert sessions("period_from=2026-01&period_to=2026-03") == 2
    assert sessions("profile=bewoners&profile_round=desired") == 1
    assert sessions("profile=bewoners&profile_round=any") == 2
    assert sessions("region=ut") == 1
    assert sessions("organisation_type=housing") == 1
    assert sessions("exercise=wijkgericht-werken") == 3
    overview = archive_overview.overview(Archive.objects.all())
    assert {p["key"]: (p["now"], p["desired"]) for p in overview["profiles"]}["beheer"] == (2, 0)
    assert overview["participants"] == 15
    assert sorted(s["count"] for s in overview["shifts"]) == [1, 1]
    assert researcher_client.get("/archive/?period_from=maart").status_code == 400


def test_purge_deletes_what_is_past_retention_for_real(exercise, settings):
    settings.ARCHIVE_RETENTION_DAYS = 365
    today = timezone.now().date()
    old = make_archive(exercise, participants=3, month=date(today.year - 2, today.month, 1))
    recent = make_archive(exercise, participants=3, month=today.replace(day=1))
    assert archives.purge_archives() == 1
    assert list(Archive.objects.all()) == [recent]
    assert not ArchivePosition.objects.filter(archive_id=old.pk).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM workshop_archiveposition WHERE archive_id = %s", [old.pk])
        assert cursor.fetchone()[0] == 0


def test_a_facilitator_can_delete_their_own_archive(fenna_client, closed_archive, workshop_session):
    response = fenna_client.post(f"/archive/{closed_archive.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == f"/f/s/{workshop_session.code}/results/"
    assert not Archive.objects.exists() and not ArchivePosition.objects.exists()


def test_another_facilitator_cannot_delete_it(otto, closed_archive):
    client = Client()
    client.force_login(otto)
    assert client.post(f"/archive/{closed_archive.pk}/delete/").status_code == 403
    assert Archive.objects.exists()


def test_research_staff_can_delete_an_archive(researcher_client, closed_archive):
    assert researcher_client.post(f"/archive/{closed_archive.pk}/delete/").status_code == 302
    assert not Archive.objects.exists()


def test_roles_see_what_they_may(client, fenna_client, researcher_client, closed_archive, workshop_session):
    for url in ["/archive/", f"/archive/{closed_archive.pk}/", "/archive/export.csv", "/archive/export.json"]:
        assert client.get(url).status_code == 302  # anonymous: log in first
        assert fenna_client.get(url).status_code == 403  # facilitators do not browse archives
        assert researcher_client.get(url).status_code == 200
    for url in ["/f/", f"/f/s/{workshop_session.code}/", f"/f/s/{workshop_session.code}/results.csv"]:
        assert researcher_client.get(url).status_code == 403  # staff never see live sessions


def test_a_login_lands_each_role_on_its_own_page(researcher, fenna):
    for user, target in [(researcher, "/archive/"), (fenna, "/f/")]:
        client = Client()
        client.force_login(user)
        assert client.get("/start/")["Location"] == target


def test_no_page_or_file_shows_a_token_or_a_session_code(researcher_client, workshop_session):
    people = join(workshop_session, 3)
    place(people, "regie", [10, 50, 90])
    hashes = [p.token_hash.encode() for p in people]
    closed_archive = closing.close_session(session=workshop_session)
    hashes += [h.encode() for h in Participant.objects.values_list("token_hash", flat=True)]
    pages = [
        researcher_client.get("/archive/").content,
        researcher_client.get(f"/archive/{closed_archive.pk}/").content,
        b"".join(researcher_client.get("/archive/export.csv").streaming_content),
        b"".join(researcher_client.get("/archive/export.json").streaming_content),
    ]
    for content in pages:
        assert workshop_session.code.encode() not in content
        assert not any(h in content for h in hashes)


@pytest.mark.slow  # tracemalloc slows every allocation of the export tenfold
def test_exports_of_500_sessions_stream_in_bounded_memory(exercise, figure):
    slider = exercise.sliders.get(key="regie")
    made = Archive.objects.bulk_create(
        Archive(exercise=exercise, month=date(2026, 1, 1), participants=10, rounds=1) for _ in range(500)
    )
    ArchivePosition.objects.bulk_create(
        (
            ArchivePosition(archive=a, participant=p, round=1, slider=slider, value=p * 9)
            for a in made
            for p in range(1, 11)
        ),
        batch_size=5000,
    )
    selection = Archive.objects.all()
    tracemalloc.start()
    lines = sum(1 for _ in archive_exports.csv_lines(selection))
    _current, csv_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    tracemalloc.start()
    chunks = sum(len(chunk) for chunk in archive_exports.json_chunks(selection))
    _current, json_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert lines == 1 + 500 * 10
    assert chunks > 500 * 10 * 50
    # Everything at once would be several MB; streaming keeps a few archives in memory.
    figure(f"archive export of 500 sessions: CSV peak {csv_peak // 1024} KiB, JSON peak {json_peak // 1024} KiB")
    assert csv_peak < 3_000_000, csv_peak
    assert json_peak < 3_000_000, json_peak


def personal_rows(session):
    return (
        Participant.objects.filter(session=session).count(),
        Position.objects.filter(participant__session=session).count(),
        Note.objects.filter(session=session).count(),
        Group.objects.filter(session=session).count(),
    )


def session_with_people(session):
    group = session_control.add_group(session=session, name="Team Jansen")
    place(join(session, 3, group=group), "regie", [10, 20, 30])
    slider = session.exercise.sliders.get(key="regie")
    session_control.save_note(session=session, slider=slider, round=1, text="Mevrouw Jansen zei …")
    return closing.close_session(session=session)


def test_retention_deletes_a_closed_sessions_people_and_keeps_the_archive(workshop_session, settings):
    settings.SESSION_RETENTION_DAYS = 30
    archive = session_with_people(workshop_session)
    assert archives.purge_sessions() == 0
    assert personal_rows(workshop_session) == (3, 3, 1, 1)
    assert archives.purge_sessions(now=timezone.now() + timedelta(days=31)) == 1
    assert personal_rows(workshop_session) == (0, 0, 0, 0)
    assert Session.objects.filter(pk=workshop_session.pk).exists()
    assert Archive.objects.get(pk=archive.pk).positions.count() == 3


def test_the_daily_command_strips_old_sessions(workshop_session, settings):
    settings.SESSION_RETENTION_DAYS = 1
    session_with_people(workshop_session)
    Session.objects.filter(pk=workshop_session.pk).update(closed_at=timezone.now() - timedelta(days=2))
    out = io.StringIO()
    call_command("purge_archives", stdout=out)
    assert "personal data of 1 session(s)" in out.getvalue()
    assert personal_rows(workshop_session) == (0, 0, 0, 0)


def test_deleting_an_archive_deletes_its_sessions_people_at_once(researcher_client, workshop_session):
    archive = session_with_people(workshop_session)
    assert researcher_client.post(f"/archive/{archive.pk}/delete/").status_code == 302
    assert personal_rows(workshop_session) == (0, 0, 0, 0)
    assert not Archive.objects.exists()


def test_the_archive_page_shows_round_two_beside_round_one_with_the_shift(researcher_client, workshop_session):
    people = join(workshop_session, 4)
    place(people, "regie", [10, 20, 30, 40])
    place(people, "sturing", [50, 50, None, None])
    session_control.start_round_two(session=workshop_session)
    place(people, "regie", [60, 70, 80, 90], round=2)
    place(people, "sturing", [90, 90, 90, None], round=2)
    archive = closing.close_session(session=workshop_session)
    html = researcher_client.get(f"/archive/{archive.pk}/").content.decode()
    assert 'class="rounds side-by-side"' in html
    assert html.count('data-testid="shift-regie"') == 1
    assert 'data-testid="shift-regie">+50<' in html  # 75 - 25
    # Round 1 of sturing had two answers: no median to shift from.
    assert 'data-testid="shift-sturing"' not in html
    round_two = html.split('data-slider="regie"')[2].split("</li>")[0]
    assert 'class="before"' in round_two and 'class="shift"' in round_two


def test_the_list_shows_each_archives_size_and_profiles_per_quarter(researcher_client, exercise):
    make_archive(exercise, participants=4, month=date(2026, 1, 1), now="beheer")
    make_archive(exercise, participants=5, month=date(2026, 2, 1), now="beheer")
    late = make_archive(exercise, participants=6, month=date(2026, 7, 1), now="bewoners")
    ArchivePosition.objects.filter(archive=late, participant=6).update(value=None)
    html = researcher_client.get("/archive/").content.decode()
    assert f'data-testid="answers-{late.pk}">5<' in html
    assert "<strong>2</strong>" in html.split('data-testid="quarter-2026-q1-beheer"')[1].split("</li>")[0]
    assert 'data-testid="quarter-2026-q3-bewoners"' in html
    assert 'data-testid="quarter-2026-q1-bewoners"' not in html
    assert '<svg class="quarter-bars"' in html


def test_a_profile_resting_on_too_few_answers_is_not_archived(researcher_client, workshop_session):
    group = session_control.add_group(session=workshop_session, name="Duo")
    pair = join(workshop_session, 2, group=group)
    others = join(workshop_session, 1)
    for key, value in {"sturing": 85, "aanpak": 55, "verankering": 35, "regie": 90, "horizon": 35}.items():
        place([*pair, *others], key, [value] * 3)
    # One slider answered by two people only: the room's profile would show what they said.
    place(pair, "regie", [10, 12])
    place(others, "regie", [None])
    archive = closing.close_session(session=workshop_session)
    assert archive.profile_now == ""
    assert list(archive.groups.values_list("profile", flat=True)) == [""]
    _rows, data = export(researcher_client)
    assert data["archives"][0]["profiles"]["now"] is None
