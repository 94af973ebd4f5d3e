"""The transition table at work: every path that writes asks it, and what it decides reaches every view."""

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from tests.sockets import aggregate_until, open_dashboard, phone
from workshop import broadcast, closing, session_control
from workshop.models import Group, Note, Position, Session

CLOSED_TEXT = "Deze sessie is afgesloten."

# One valid body per facilitator control: refused after closing for what the session is, not for the form.
BODIES = {
    "start": {},
    "step": {"direction": "next"},
    "slider": {"slider": "regie", "on": "1"},
    "discussion": {},
    "round2": {},
    "results": {"mode": "shown"},
    "slider_results": {"slider": "regie", "on": "1"},
    "reveal": {"on": "1"},
    "reveal_phones": {"on": "1"},
    "timer": {"minutes": "1", "lock": "on"},
    "timer_stop": {},
    "room": {"on": "1"},
    "cap": {"cap": "5"},
    "screen": {"view": "room"},
    "group_add": {"name": "Team Noord"},
    "reset": {"slider": "all", "confirm": "yes"},
    "note": {"slider": "regie", "round": "1", "text": "na sluiten"},
}


def post(client, session, action, data=None):
    return client.post(f"/f/s/{session.code}/do/{action}/", data or {}, HTTP_HX_REQUEST="true")


def snapshot(session):
    fresh = Session.objects.get(pk=session.pk)
    fields = {
        f.attname: getattr(fresh, f.attname) for f in Session._meta.concrete_fields if f.attname != "last_activity"
    }
    return fields, Group.objects.filter(session=session).count(), Note.objects.filter(session=session).count()


@pytest.mark.django_db
def test_every_control_after_closing_answers_409_and_writes_nothing(fenna_client, workshop_session):
    Position.objects.create(
        participant=workshop_session.participants.create(token_hash="a" * 64),
        slider=workshop_session.exercise.sliders.get(key="regie"),
        value=40,
    )
    closing.close_session(session=workshop_session)
    before = snapshot(workshop_session)
    for action, body in BODIES.items():
        response = post(fenna_client, workshop_session, action, body)
        assert response.status_code == 409, action
        assert CLOSED_TEXT in response.content.decode(), action
    assert snapshot(workshop_session) == before
    assert Position.objects.filter(participant__session=workshop_session).count() == 1


@pytest.mark.django_db
def test_a_refused_control_says_why_and_changes_nothing(fenna_client, lobby_session):
    before = snapshot(lobby_session)
    response = post(fenna_client, lobby_session, "reveal_phones", {"on": "1"})
    assert response.status_code == 409
    assert "Onthul het profiel eerst op het scherm" in response.content.decode()
    assert snapshot(lobby_session) == before


@pytest.mark.django_db
def test_revealing_while_the_sliders_are_open_locks_them_first(fenna_client, workshop_session):
    assert post(fenna_client, workshop_session, "reveal", {"on": "1"}).status_code == 200
    session = Session.objects.get(pk=workshop_session.pk)
    assert session.profile_revealed and session.status == "discussion" and session.open_sliders == []


@pytest.mark.django_db
def test_the_timer_takes_its_limits_from_one_place(fenna_client, workshop_session):
    assert post(fenna_client, workshop_session, "timer", {"minutes": "0.2"}).status_code == 400  # 12 s
    assert Session.objects.get(pk=workshop_session.pk).timer_ends_at is None
    with pytest.raises(session_control.ControlError):
        session_control.start_timer(session=workshop_session, seconds=12, lock_when_done=True)
    assert post(fenna_client, workshop_session, "timer", {"minutes": "0.25"}).status_code == 200  # 15 s
    assert Session.objects.get(pk=workshop_session.pk).timer_ends_at is not None


@pytest.mark.django_db
def test_reopening_the_sliders_after_the_reveal_withdraws_it(fenna_client, workshop_session):
    post(fenna_client, workshop_session, "discussion")
    post(fenna_client, workshop_session, "reveal", {"on": "1"})
    post(fenna_client, workshop_session, "reveal_phones", {"on": "1"})
    session = Session.objects.get(pk=workshop_session.pk)
    assert session.profile_revealed and session.profile_to_phones and session.status == "discussion"
    assert post(fenna_client, workshop_session, "slider", {"slider": "regie", "on": "1"}).status_code == 200
    session = Session.objects.get(pk=workshop_session.pk)
    assert not session.profile_revealed and not session.profile_to_phones
    assert session.open_sliders == ["regie"]


@pytest.mark.django_db
def test_the_control_panel_shows_the_next_step_as_its_one_primary_button(fenna_client, lobby_session):
    def primary() -> list[str]:
        html = fenna_client.get(f"/f/s/{lobby_session.code}/").content.decode()
        section = html[html.index('id="controls"') : html.index("</section>", html.index('id="controls"'))]
        return [
            part.split('hx-post="')[1].split('"')[0].rstrip("/").rsplit("/", 1)[-1]
            for part in section.split("primary")[1:]
        ]

    assert primary() == ["start"]
    post(fenna_client, lobby_session, "step", {"direction": "next"})
    assert primary() == ["step"]
    post(fenna_client, lobby_session, "start")
    assert primary() == ["discussion"]
    post(fenna_client, lobby_session, "discussion")
    assert primary() == ["results"]


@pytest.mark.django_db(transaction=True)
async def test_a_phones_set_after_idle_closing_is_refused_and_every_phone_hears_it(workshop_session, monkeypatch):
    first, _ = await phone(workshop_session.code)
    second, _ = await phone(workshop_session.code)
    await first.send_json_to({"type": "set", "slider": "regie", "value": 40, "seq": 1})
    assert (await first.receive_json_from())["type"] == "ack"
    # cron in another process: nothing reaches this process's sockets.
    await Session.objects.filter(pk=workshop_session.pk).aupdate(last_activity=timezone.now() - timedelta(days=2))
    await Position.objects.filter(participant__session=workshop_session).aupdate(
        updated_at=timezone.now() - timedelta(days=2)
    )
    with monkeypatch.context() as patched:
        # The command runs in a process of its own: on the embedded layer its broadcast reaches no one here.
        patched.setattr(broadcast, "session_changed", lambda **kwargs: None)
        assert await sync_to_async(closing.archive_idle_sessions)() == 1
    await first.send_json_to({"type": "set", "slider": "regie", "value": 90, "seq": 2})
    # The refused set makes this process announce the stored state: every phone hears it is closed.
    for communicator in (first, second):
        outputs = []
        while not outputs or outputs[-1]["type"] != "websocket.close":
            outputs.append(await communicator.receive_output(timeout=2))
        states = [json.loads(o["text"]) for o in outputs if o["type"] == "websocket.send"]
        assert any(s["type"] == "state" and s["session"]["stage"] == "closed" for s in states)
        assert not any(s["type"] == "ack" for s in states)
        assert outputs[-1] == {"type": "websocket.close", "code": 4404}
    stored = Position.objects.filter(participant__session=workshop_session).values_list("value", flat=True)
    assert [v async for v in stored] == [40]


@pytest.mark.django_db(transaction=True)
async def test_phones_that_send_nothing_hear_of_a_close_by_cron_within_the_check_period(
    workshop_session, monkeypatch, settings
):
    settings.CLOSED_CHECK_SECONDS = 0.3
    first, _ = await phone(workshop_session.code)
    second, _ = await phone(workshop_session.code)
    await Session.objects.filter(pk=workshop_session.pk).aupdate(last_activity=timezone.now() - timedelta(days=2))
    with monkeypatch.context() as patched:
        # The command runs in a process of its own: on the embedded layer its broadcast reaches no one here.
        patched.setattr(broadcast, "session_changed", lambda **kwargs: None)
        assert await sync_to_async(closing.archive_idle_sessions)() == 1
    closed_at = timezone.now()
    for communicator in (first, second):
        outputs = []
        while not outputs or outputs[-1]["type"] != "websocket.close":
            outputs.append(await communicator.receive_output(timeout=3))
        states = [json.loads(o["text"]) for o in outputs if o["type"] == "websocket.send"]
        assert states[-1]["type"] == "state" and states[-1]["session"]["stage"] == "closed"
        assert outputs[-1] == {"type": "websocket.close", "code": 4404}
    # Told within the period (and the test's slack), without a single message from the phones.
    assert (timezone.now() - closed_at).total_seconds() < 0.3 + 1.5


@pytest.mark.django_db(transaction=True)
async def test_the_timer_runs_out_as_a_server_event_on_phones_the_control_panel_and_the_screen(
    fenna, workshop_session, figure
):
    dashboard = await open_dashboard(fenna, workshop_session.code)
    screen = await open_dashboard(fenna, workshop_session.code, "?view=screen")
    communicator, _ = await phone(workshop_session.code)
    await sync_to_async(session_control.start_timer)(session=workshop_session, seconds=15, lock_when_done=True)
    # Fifteen seconds are too long for a test: the same timer, ending in 0.3 s, announced as a control would.
    ends = timezone.now() + timedelta(seconds=0.3)
    await Session.objects.filter(pk=workshop_session.pk).aupdate(timer_ends_at=ends)
    from workshop.announce import announce_current

    await sync_to_async(announce_current)(code=workshop_session.code)

    async def phone_hears() -> tuple[Any, dict[str, Any]]:
        while True:
            state = await communicator.receive_json_from(timeout=3)
            if state["timer"] and state["timer"]["expired"]:
                return timezone.now(), state

    async def panel_hears() -> tuple[Any, dict[str, Any]]:
        while True:
            message = await dashboard.receive_json_from(timeout=3)
            if message["type"] == "controls" and "tijd is om" in message["html"]:
                return timezone.now(), message

    async def screen_hears() -> tuple[Any, dict[str, Any]]:
        message = await aggregate_until(screen, lambda m: "tijd is om" in m["html"].lower())
        return timezone.now(), message

    (phone_at, state), (panel_at, controls), (screen_at, _) = await asyncio.gather(
        phone_hears(), panel_hears(), screen_hears()
    )
    # Each within 1 s of the timer's end (docs/architecture.md: the expiry is a server event).
    late = {
        name: (at - ends).total_seconds()
        for name, at in [("phone", phone_at), ("panel", panel_at), ("screen", screen_at)]
    }
    assert max(late.values()) < 1, late
    figure("timer expiry heard after the end: " + ", ".join(f"{k} {v:.2f} s" for k, v in late.items()))
    assert {s["reason"] for s in state["sliders"]} == {"time_up"}
    assert state["session"]["stage"] == "locked"
    assert "loopt" not in controls["html"]
    await communicator.send_json_to({"type": "set", "slider": "regie", "value": 90, "seq": 1})
    assert (await communicator.receive_json_from())["code"] == "slider_locked"
    await communicator.disconnect()
    await dashboard.disconnect()
    await screen.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_turning_no_opinion_off_leaves_the_slider_not_placed(workshop_session):
    communicator, welcome = await phone(workshop_session.code)
    await communicator.send_json_to({"type": "abstain", "slider": "regie", "seq": 1})
    assert (await communicator.receive_json_from())["type"] == "ack"
    assert await Position.objects.filter(participant__session=workshop_session).acount() == 1
    await communicator.send_json_to({"type": "clear", "slider": "regie", "seq": 2})
    assert await communicator.receive_json_from() == {"type": "ack", "seq": 2, "round": 1}
    assert await Position.objects.filter(participant__session=workshop_session).acount() == 0
    again, state = await phone(workshop_session.code, token=welcome["token"])  # a reload
    assert state["positions"]["regie"] is None
    await communicator.disconnect()
    await again.disconnect()
