"""Who may do what (workshop/access.py), against the personas: the rule itself, the pages and the
sockets that ask it, the groups the migrations make, and the one place a session code is normalised."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser, Group, User
from django.test import Client
from django.urls import reverse

from tests.conftest import persona
from tests.sockets import aggregate_until, open_dashboard, open_socket, phone
from workshop import access, session_control
from workshop.models import Session

# Sockets reach the database from another thread: their tests commit (and flush after).
sockets_commit = pytest.mark.django_db(transaction=True)
FORBIDDEN = {"type": "websocket.close", "code": 4403}


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def session_pages(code: str) -> list[str]:
    return [
        reverse("dashboard", kwargs={"code": code}),
        reverse("screen", kwargs={"code": code}),
        reverse("results", kwargs={"code": code}),
        reverse("results_csv", kwargs={"code": code}),
    ]


# The rule ------------------------------------------------------------------------------------


def test_a_facilitator_runs_and_watches_her_own_session_only(fenna, otto, workshop_session):
    ottos = session_control.create_session(facilitator=otto, exercise=workshop_session.exercise, title="Zuid")
    assert access.may_run(fenna, workshop_session) and access.may_watch(fenna, workshop_session)
    assert not access.may_run(fenna, ottos) and not access.may_watch(fenna, ottos)
    assert list(access.sessions_run_by(fenna)) == [workshop_session]


def test_another_facilitator_may_not_run_or_watch_her_session(otto, workshop_session):
    assert not access.may_run(otto, workshop_session)
    assert not access.may_watch(otto, workshop_session)
    assert not access.sessions_run_by(otto).exists()


def test_research_staff_may_read_archives_but_never_run_or_watch_a_live_session(researcher, workshop_session):
    assert access.may_research(researcher)
    assert not access.may_facilitate(researcher)
    assert not access.may_run(researcher, workshop_session) and not access.may_watch(researcher, workshop_session)
    assert not access.sessions_run_by(researcher).exists()


def test_research_staff_who_once_had_a_session_still_may_not_run_it(researcher, workshop_session):
    Session.objects.filter(pk=workshop_session.pk).update(facilitator=researcher)
    workshop_session.refresh_from_db()
    assert not access.may_run(researcher, workshop_session)


def test_a_facilitator_is_no_research_staff(fenna):
    assert access.may_facilitate(fenna) and not access.may_research(fenna)


def test_an_account_without_a_role_may_do_nothing(rosa, workshop_session):
    workshop_session.facilitator = rosa  # even a session that names her
    assert not access.may_facilitate(rosa) and not access.may_research(rosa)
    assert not access.may_run(rosa, workshop_session) and not access.may_watch(rosa, workshop_session)


def test_an_inactive_account_is_refused_everything_its_groups_would_allow(
    fenna, researcher, admin_user_persona, workshop_session
):
    for user in (fenna, researcher, admin_user_persona):
        user.is_active = False
        user.save()
    for user in (fenna, admin_user_persona):
        assert not access.may_run(user, workshop_session) and not access.may_watch(user, workshop_session)
        assert not access.sessions_run_by(user).exists()
    assert not access.may_research(researcher) and not access.may_research(admin_user_persona)


def test_nobody_logged_in_may_do_anything(workshop_session):
    visitor = AnonymousUser()
    assert not access.may_run(visitor, workshop_session) and not access.may_research(visitor)
    assert not access.sessions_run_by(visitor).exists()


def test_a_superuser_runs_watches_and_researches_every_session(admin_user_persona, workshop_session):
    assert access.may_run(admin_user_persona, workshop_session)
    assert access.may_watch(admin_user_persona, workshop_session)
    assert access.may_research(admin_user_persona)
    assert list(access.sessions_run_by(admin_user_persona)) == [workshop_session]


def test_the_query_and_the_rule_agree_for_every_persona(fenna, otto, researcher, rosa, admin_user_persona, exercise):
    sessions = [
        session_control.create_session(facilitator=user, exercise=exercise, title=user.username)
        for user in (fenna, otto, researcher, rosa)
    ]
    for user in (fenna, otto, researcher, rosa, admin_user_persona):
        assert set(access.sessions_run_by(user)) == {s for s in sessions if access.may_run(user, s)}, user


# The pages ---------------------------------------------------------------------------------


def test_the_facilitator_sees_every_page_of_her_session(fenna_client, workshop_session):
    for url in session_pages(workshop_session.code):
        assert fenna_client.get(url).status_code == 200, url


def test_another_facilitator_gets_404_on_every_page_of_her_session(otto, workshop_session):
    client = logged_in(otto)
    for url in session_pages(workshop_session.code):
        assert client.get(url).status_code == 404, url
    control = reverse("control", kwargs={"code": workshop_session.code, "action": "discussion"})
    assert client.post(control, {"confirm": "1"}).status_code == 404
    assert client.post(reverse("close", kwargs={"code": workshop_session.code})).status_code == 404
    workshop_session.refresh_from_db()
    assert workshop_session.status == Session.Status.POSITIONING


def test_research_staff_get_403_on_a_live_session_and_200_on_the_archive(researcher_client, workshop_session):
    for url in session_pages(workshop_session.code):
        assert researcher_client.get(url).status_code == 403, url
    assert researcher_client.get(reverse("archive_list")).status_code == 200
    assert researcher_client.get(reverse("start"))["Location"] == reverse("archive_list")


def test_a_facilitator_gets_403_on_the_archive(fenna_client):
    assert fenna_client.get(reverse("archive_list")).status_code == 403
    assert fenna_client.get(reverse("start"))["Location"] == reverse("facilitator_home")


def test_an_account_deactivated_after_logging_in_is_sent_to_log_in_again(fenna, workshop_session):
    client = logged_in(fenna)
    fenna.is_active = False
    fenna.save()
    response = client.get(reverse("dashboard", kwargs={"code": workshop_session.code}))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_superuser_sees_every_page_of_her_session(admin_user_persona, workshop_session):
    client = logged_in(admin_user_persona)
    for url in session_pages(workshop_session.code):
        assert client.get(url).status_code == 200, url


# The sockets ------------------------------------------------------------------------------


@sockets_commit
async def test_another_facilitator_and_research_staff_get_4403_on_the_dashboard_socket(
    otto, researcher, workshop_session
):
    for user in (otto, researcher):
        for view in ("", "?view=screen"):
            dashboard = await open_dashboard(user, workshop_session.code, view)
            assert await dashboard.receive_output(timeout=5) == FORBIDDEN, (user, view)


@sockets_commit
async def test_an_inactive_facilitator_gets_4403_on_the_dashboard_socket(fenna, workshop_session):
    fenna.is_active = False
    await sync_to_async(fenna.save)()
    dashboard = await open_dashboard(fenna, workshop_session.code)
    assert await dashboard.receive_output(timeout=5) == FORBIDDEN


@sockets_commit
async def test_the_facilitator_and_a_superuser_get_the_live_feed(fenna, admin_user_persona, workshop_session):
    for user in (fenna, admin_user_persona):
        dashboard = await open_dashboard(user, workshop_session.code)
        assert (await dashboard.receive_json_from(timeout=5))["type"] == "aggregate"
        await dashboard.disconnect()


# The groups the migrations make ------------------------------------------------------------


def permissions_of(group: Group) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_the_migrations_make_each_role_with_exactly_its_permissions(db):
    for name, permissions in access.ROLES.items():
        assert permissions_of(Group.objects.get(name=name)) == set(permissions)


def test_a_group_lost_to_a_flush_comes_back_as_the_migration_made_it(db):
    Group.objects.filter(name=access.FACILITATORS).delete()
    group = access.create_role(access.FACILITATORS)
    assert permissions_of(group) == set(access.ROLES[access.FACILITATORS])


def test_a_persona_has_no_permission_of_its_own_only_its_groups(fenna, researcher):
    for user in (fenna, researcher):
        assert not user.user_permissions.exists()
    assert {g.name for g in fenna.groups.all()} == {access.FACILITATORS}
    assert {g.name for g in researcher.groups.all()} == {access.RESEARCH_STAFF}
    both = persona("beide", access.FACILITATORS, access.RESEARCH_STAFF)
    assert access.may_facilitate(both) and access.may_research(both)


# The code, normalised once by the URL converter ------------------------------------------------


def test_a_lower_case_code_in_a_page_url_reaches_the_same_session(fenna_client, workshop_session):
    code = workshop_session.code
    for url in [*session_pages(code.lower()), reverse("join", kwargs={"code": code.lower()})]:
        response = fenna_client.get(url)
        assert response.status_code == 200, url
    page = fenna_client.get(reverse("dashboard", kwargs={"code": code.lower()}))
    assert page.context["session"] == workshop_session


@sockets_commit
async def test_a_lower_case_code_on_the_phone_socket_joins_the_same_session(workshop_session):
    communicator, welcome = await phone(workshop_session.code.lower())
    assert welcome["session"]["code"] == workshop_session.code
    await communicator.disconnect()


@sockets_commit
async def test_a_lower_case_code_on_the_dashboard_socket_watches_the_same_session(fenna, workshop_session):
    dashboard = await open_dashboard(fenna, workshop_session.code.lower())
    assert (await dashboard.receive_json_from(timeout=5))["type"] == "aggregate"
    # It hears the session's own events: a phone that joins by the code as printed is counted.
    communicator, _welcome = await phone(workshop_session.code)
    await aggregate_until(dashboard, lambda message: message["participants"] == 1)
    await communicator.disconnect()
    await dashboard.disconnect()


@sockets_commit
async def test_a_code_with_a_character_outside_the_alphabet_is_4404_in_either_case(workshop_session):
    for code in ("abcdei", "ABCDEI"):  # I is not in the alphabet, nor is i
        communicator, connected = await open_socket(f"/ws/p/{code}/")
        assert connected
        assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}
