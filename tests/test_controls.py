"""Every facilitator control, through the view as the control panel posts it."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from workshop import session_control
from workshop.models import Group, Note, Participant, Position, Session

pytestmark = pytest.mark.django_db


def post(client, session, action, data=None, htmx=True):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(f"/f/s/{session.code}/do/{action}/", data or {}, **headers)


def fresh(session) -> Session:
    return Session.objects.get(pk=session.pk)


def test_a_new_session_waits_in_the_lobby_with_every_slider_closed(fenna_client, exercise, slider_keys):
    fenna_client.post("/f/", {"title": "Wijkteam Zuid", "exercise": exercise.pk})
    session = Session.objects.get(title="Wijkteam Zuid")
    assert session.status == "lobby"
    assert not any(session.slider_open(k) for k in slider_keys)
    assert session.results == "hidden" and not session.profile_revealed


def test_open_all_starts_positioning(fenna_client, lobby_session, slider_keys):
    response = post(fenna_client, lobby_session, "start")
    assert response.status_code == 200 and b'id="controls"' in response.content
    session = fresh(lobby_session)
    assert session.status == "positioning" and session.open_sliders == slider_keys


def test_stepping_opens_one_slider_at_a_time(fenna_client, lobby_session):
    post(fenna_client, lobby_session, "step", {"direction": "next"})
    assert fresh(lobby_session).open_sliders == ["sturing"]
    post(fenna_client, lobby_session, "step", {"direction": "next"})
    assert fresh(lobby_session).open_sliders == ["aanpak"]
    post(fenna_client, lobby_session, "step", {"direction": "previous"})
    assert fresh(lobby_session).open_sliders == ["sturing"]
    response = post(fenna_client, lobby_session, "step", {"direction": "previous"})
    assert response.status_code == 409
    assert "geen schuif in die richting" in response.content.decode()
    assert fresh(lobby_session).open_sliders == ["sturing"]


def test_a_single_slider_locks_and_opens(fenna_client, workshop_session):
    post(fenna_client, workshop_session, "slider", {"slider": "regie", "on": "0"})
    session = fresh(workshop_session)
    assert not session.slider_open("regie") and session.slider_open("sturing")
    post(fenna_client, workshop_session, "slider", {"slider": "regie", "on": "1"})
    assert fresh(workshop_session).slider_open("regie")


def test_an_unknown_slider_is_refused(fenna_client, workshop_session, slider_keys):
    response = post(fenna_client, workshop_session, "slider", {"slider": "nope", "on": "0"})
    assert response.status_code == 409
    assert fresh(workshop_session).open_sliders == slider_keys


def test_discussion_locks_everything_and_keeps_values(fenna_client, workshop_session, slider_keys):
    post(fenna_client, workshop_session, "discussion")
    session = fresh(workshop_session)
    assert session.status == "discussion" and not any(session.slider_open(k) for k in slider_keys)


def test_discussion_needs_sliders_first(fenna_client, lobby_session):
    assert post(fenna_client, lobby_session, "discussion").status_code == 409
    assert fresh(lobby_session).status == "lobby"


def test_round_two_reopens_sliders_and_hides_results_again(fenna_client, workshop_session, slider_keys):
    post(fenna_client, workshop_session, "results", {"mode": "shown"})
    post(fenna_client, workshop_session, "reveal", {"on": "1"})
    post(fenna_client, workshop_session, "discussion")
    post(fenna_client, workshop_session, "round2")
    session = fresh(workshop_session)
    assert (session.round, session.status, session.results) == (2, "positioning", "hidden")
    assert session.open_sliders == slider_keys and not session.profile_revealed
    assert post(fenna_client, workshop_session, "round2").status_code == 409
    assert fresh(workshop_session).round == 2


def test_round_two_needs_round_one_first(fenna_client, lobby_session):
    assert post(fenna_client, lobby_session, "round2").status_code == 409


@pytest.mark.parametrize("mode", ["shown", "per_slider", "hidden"])
def test_results_mode(fenna_client, workshop_session, mode):
    post(fenna_client, workshop_session, "results", {"mode": mode})
    assert fresh(workshop_session).results == mode


def test_an_unknown_results_mode_is_refused(fenna_client, workshop_session):
    assert post(fenna_client, workshop_session, "results", {"mode": "everything"}).status_code == 409
    assert fresh(workshop_session).results == "hidden"


def test_showing_one_sliders_result(fenna_client, workshop_session):
    post(fenna_client, workshop_session, "slider_results", {"slider": "aanpak", "on": "1"})
    session = fresh(workshop_session)
    assert session.results == "per_slider"
    assert session.results_visible("aanpak") and not session.results_visible("regie")


def test_phones_see_the_profile_only_after_the_screen(fenna_client, workshop_session):
    response = post(fenna_client, workshop_session, "reveal_phones", {"on": "1"})
    assert response.status_code == 409
    assert not fresh(workshop_session).profile_to_phones
    post(fenna_client, workshop_session, "discussion")
    post(fenna_client, workshop_session, "reveal", {"on": "1"})
    post(fenna_client, workshop_session, "reveal_phones", {"on": "1"})
    assert fresh(workshop_session).profile_to_phones
    post(fenna_client, workshop_session, "reveal", {"on": "0"})
    session = fresh(workshop_session)
    assert not session.profile_revealed and not session.profile_to_phones


def test_revealing_in_the_lobby_is_refused_with_a_reason(fenna_client, lobby_session):
    response = post(fenna_client, lobby_session, "reveal", {"on": "1"})
    assert response.status_code == 409
    assert "open eerst de schuiven" in response.content.decode()
    assert not fresh(lobby_session).profile_revealed


def test_a_timer_that_locks_closes_sliders_when_it_ends(fenna_client, workshop_session):
    post(fenna_client, workshop_session, "timer", {"minutes": "2", "lock": "on"})
    session = fresh(workshop_session)
    assert session.timer_locks and session.slider_open("regie")
    assert not session.slider_open("regie", now=session.timer_ends_at + timedelta(seconds=1))
    post(fenna_client, workshop_session, "timer_stop")
    session = fresh(workshop_session)
    assert session.timer_ends_at is None and session.slider_open("regie", now=timezone.now() + timedelta(hours=1))


def test_a_timer_out_of_range_is_refused(fenna_client, workshop_session):
    assert post(fenna_client, workshop_session, "timer", {"minutes": "90"}).status_code == 400
    assert fresh(workshop_session).timer_ends_at is None


def test_room_lock_and_cap(fenna_client, workshop_session):
    post(fenna_client, workshop_session, "room", {"on": "1"})
    assert fresh(workshop_session).room_locked and not fresh(workshop_session).joining_allowed
    post(fenna_client, workshop_session, "cap", {"cap": "25"})
    assert fresh(workshop_session).max_participants == 25
    post(fenna_client, workshop_session, "cap", {"cap": ""})
    assert fresh(workshop_session).max_participants is None
    assert post(fenna_client, workshop_session, "cap", {"cap": "0"}).status_code == 400


def test_groups_are_added_shown_and_removed(fenna_client, workshop_session):
    post(fenna_client, workshop_session, "group_add", {"name": "Trio A"})
    post(fenna_client, workshop_session, "group_add", {"name": "Trio B"})
    assert post(fenna_client, workshop_session, "group_add", {"name": "trio a"}).status_code == 409
    a, b = Group.objects.filter(session=workshop_session).order_by("order")
    post(fenna_client, workshop_session, "screen", {"view": "group", "group": b.pk})
    session = fresh(workshop_session)
    assert session.screen == "group" and session.screen_group_id == b.pk
    post(fenna_client, workshop_session, "screen", {"view": "groups"})
    assert fresh(workshop_session).screen_group_id is None
    post(fenna_client, workshop_session, "group_remove", {"group": a.pk})
    assert list(Group.objects.filter(session=workshop_session)) == [b]


def test_removing_a_group_keeps_its_members_and_their_positions(fenna_client, workshop_session):
    group = session_control.add_group(session=workshop_session, name="Team")
    member = Participant.objects.create(session=workshop_session, token_hash="x" * 64, group=group)
    Position.objects.create(participant=member, slider=workshop_session.exercise.sliders.get(key="regie"), value=70)
    assert post(fenna_client, workshop_session, "group_remove", {"group": group.pk}).status_code == 200
    assert not Group.objects.filter(pk=group.pk).exists()
    member.refresh_from_db()
    assert member.group is None and member.positions.get().value == 70


def test_a_group_can_be_renamed_but_not_to_another_groups_name(fenna_client, workshop_session):
    group = session_control.add_group(session=workshop_session, name="Team")
    session_control.add_group(session=workshop_session, name="Trio")
    assert post(fenna_client, workshop_session, "group_rename", {"group": group.pk, "name": "trio"}).status_code == 409
    assert (
        post(fenna_client, workshop_session, "group_rename", {"group": group.pk, "name": "Team Centrum"}).status_code
        == 200
    )
    group.refresh_from_db()
    assert group.name == "Team Centrum"


def test_another_sessions_group_is_refused(fenna_client, workshop_session, fenna, exercise):
    other = session_control.create_session(facilitator=fenna, exercise=exercise, title="Ander")
    group = session_control.add_group(session=other, name="Elders")
    assert post(fenna_client, workshop_session, "screen", {"view": "group", "group": group.pk}).status_code == 409


def place(session, participant_token, values, round=1):
    participant = Participant.objects.create(session=session, token_hash=participant_token * 64)
    for slider in session.exercise.sliders.all():
        Position.objects.create(participant=participant, slider=slider, round=round, value=values)
    return participant


def test_reset_one_slider_needs_confirmation_and_clears_only_that_slider(fenna_client, workshop_session, slider_keys):
    place(workshop_session, "a", 40)
    assert post(fenna_client, workshop_session, "reset", {"slider": "regie"}).status_code == 400
    assert Position.objects.count() == 5
    post(fenna_client, workshop_session, "reset", {"slider": "regie", "confirm": "yes"})
    assert sorted(Position.objects.values_list("slider__key", flat=True)) == sorted(set(slider_keys) - {"regie"})


def test_reset_the_round_keeps_the_other_round(fenna_client, workshop_session):
    place(workshop_session, "a", 40, round=1)
    session_control.start_round_two(session=workshop_session)
    place(workshop_session, "b", 60, round=2)
    post(fenna_client, workshop_session, "reset", {"slider": "all", "confirm": "yes"})
    assert set(Position.objects.values_list("round", flat=True)) == {1}


def test_notes_are_saved_per_slider_and_round(fenna_client, workshop_session):
    response = post(fenna_client, workshop_session, "note", {"slider": "regie", "round": "1", "text": "Wie bepaalt?"})
    assert response.status_code == 200 and response.content.decode() == "Opgeslagen"
    post(fenna_client, workshop_session, "note", {"slider": "regie", "round": "1", "text": "Bewoners!"})
    assert list(Note.objects.values_list("slider__key", "round", "text")) == [("regie", 1, "Bewoners!")]


def test_closing_ends_every_control(fenna_client, workshop_session):
    fenna_client.post(f"/f/s/{workshop_session.code}/close/")
    session = fresh(workshop_session)
    assert session.status == "closed" and session.open_sliders == []
    response = post(fenna_client, workshop_session, "start")
    assert response.status_code == 409
    assert fresh(workshop_session).status == "closed"


def test_an_unknown_action_is_404(fenna_client, workshop_session):
    assert post(fenna_client, workshop_session, "explode").status_code == 404


def test_another_facilitator_controls_nothing(otto, workshop_session):
    client = Client()
    client.force_login(otto)
    for action in ["start", "discussion", "round2", "reveal", "room"]:
        assert post(client, workshop_session, action, {"on": "1"}).status_code == 404
    assert fresh(workshop_session).status == "positioning" and not fresh(workshop_session).room_locked


def test_without_htmx_a_control_redirects_back_to_the_panel(fenna_client, workshop_session):
    response = post(fenna_client, workshop_session, "discussion", htmx=False)
    assert response.status_code == 302 and response["Location"] == f"/f/s/{workshop_session.code}/"


def test_the_screen_page_shows_counts_only_until_results_are_shown(fenna_client, workshop_session):
    place(workshop_session, "a", 40)
    html = fenna_client.get(f"/f/s/{workshop_session.code}/screen/").content.decode()
    assert 'data-testid="screen-count-regie">1<' in html
    assert 'class="dot"' not in html
    session_control.set_results(session=workshop_session, mode="shown")
    html = fenna_client.get(f"/f/s/{workshop_session.code}/screen/").content.decode()
    assert 'data-testid="screen-median-regie">40<' in html and 'class="dot"' in html


def test_the_screen_keeps_the_join_code_while_joining_is_allowed_and_says_when_the_room_is_locked(
    fenna_client, workshop_session
):
    html = fenna_client.get(f"/f/s/{workshop_session.code}/screen/").content.decode()
    assert "join-corner" in html and "<svg" in html
    session_control.set_room_locked(session=workshop_session, locked=True)
    html = fenna_client.get(f"/f/s/{workshop_session.code}/screen/", HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    assert "<svg" not in html and 'data-testid="code"' not in html
    assert 'data-testid="room-locked"' in html and "De zaal is vergrendeld" in html


def test_a_locked_lobby_shows_no_qr_code_but_says_the_room_is_locked(fenna_client, lobby_session):
    session_control.set_room_locked(session=lobby_session, locked=True)
    html = fenna_client.get(f"/f/s/{lobby_session.code}/screen/", HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    assert "<svg" not in html and "code huge" not in html
    assert 'data-testid="lobby-locked"' in html and "De zaal is vergrendeld: er kan niemand meer bij." in html
    session_control.set_room_locked(session=lobby_session, locked=False)
    assert "code huge" in fenna_client.get(f"/f/s/{lobby_session.code}/screen/").content.decode()


def test_the_lobby_screen_shows_a_big_code(fenna_client, lobby_session):
    html = fenna_client.get(f"/f/s/{lobby_session.code}/screen/").content.decode()
    assert "code huge" in html and lobby_session.code in html
