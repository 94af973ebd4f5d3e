"""Groups on the projector: one group is that group all the way, and a small group is never singled out."""

import pytest
from asgiref.sync import sync_to_async

from tests.sockets import aggregate_until, open_dashboard
from workshop import session_control
from workshop.models import Participant, Position

pytestmark = pytest.mark.django_db(transaction=True)

LOW = {"sturing": 10, "aanpak": 10, "verankering": 10, "regie": 10, "horizon": 10}
HIGH = {"sturing": 90, "aanpak": 90, "verankering": 90, "regie": 95, "horizon": 90}


def room_with_groups(session):
    team = session_control.add_group(session=session, name="Team Centrum")
    solo = session_control.add_group(session=session, name="Trio 1")
    sliders = {s.key: s for s in session.exercise.sliders.all()}
    people = [(team, LOW)] * 3 + [(None, HIGH)] * 6 + [(solo, {"sturing": 30, "aanpak": 75, "verankering": 69})]
    for i, (group, values) in enumerate(people):
        participant = Participant.objects.create(session=session, token_hash=f"{i:064x}", group=group)
        for key, value in values.items():
            Position.objects.create(participant=participant, slider=sliders[key], value=value)
    session_control.set_results(session=session, mode="shown")
    session_control.reveal_profile(session=session, revealed=True)
    return team, solo


async def test_one_group_on_the_screen_shows_its_own_profile_and_name_at_the_reveal(fenna, workshop_session):
    team, _solo = await sync_to_async(room_with_groups)(workshop_session)
    screen = await open_dashboard(fenna, workshop_session.code, "?view=screen")
    room = await aggregate_until(screen, lambda m: m["best"] is not None)
    await sync_to_async(session_control.set_screen)(session=workshop_session, view="group", group=team)
    message = await aggregate_until(screen, lambda m: "Team Centrum" in m["html"] and m["best"] != room["best"])
    [shown] = [g for g in message["groups"] if g["name"] == "Team Centrum"]
    assert message["best"] == shown["best"]  # the group's, not the room's
    assert "Groep: Team Centrum" in message["html"]
    await screen.disconnect()


async def test_a_one_person_group_shows_its_count_and_nothing_else_on_the_screen(fenna, workshop_session):
    _team, solo = await sync_to_async(room_with_groups)(workshop_session)
    await sync_to_async(session_control.set_screen)(session=workshop_session, view="group", group=solo)
    screen = await open_dashboard(fenna, workshop_session.code, "?view=screen")
    message = await aggregate_until(screen, lambda m: "Trio 1" in m["html"])
    [shown] = [g for g in message["groups"] if g["name"] == "Trio 1"]
    assert shown["sliders"]["sturing"] == {"n": 1} and shown["best"] is None
    assert message["best"] is None and message["profiles"] == []
    html = message["html"]
    for value in ("30", "75", "69"):
        assert f">{value}<" not in html
    assert 'class="dot"' not in html.split("screen-plots")[1]
    await screen.disconnect()
