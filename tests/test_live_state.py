"""The one live-session API (workshop/live_state.py): a store that lost a session is refilled from
the database before anyone reads or adds to it; after a reset it is rebuilt from the database.

Fenna's session has two phones: one set 30 on "regie" (committed), the other is still moving at 80
(live only, never committed).
"""

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from workshop import live_state, session_control
from workshop.models import Participant, Position, Session
from workshop.runtime import runtime
from workshop.session_info import info_for


def regie(session: Session) -> list[int]:
    """The live store's counts of "regie" in round 1 now (read without refilling anything)."""
    return async_to_sync(runtime().store.snapshot)(session.code).counts_for(1, "regie")


def two_phones(session: Session) -> None:
    committed, moving = (Participant.objects.create(session=session, token_hash=f"{n}" * 64) for n in range(2))
    Position.objects.create(participant=committed, slider=session.exercise.sliders.get(key="regie"), round=1, value=30)
    members = {committed.pk: None, moving.pk: None}
    positions = [(1, committed.pk, "regie", 30), (1, moving.pk, "regie", 80)]
    async_to_sync(runtime().store.seed)(session.code, members=members, positions=positions)


def test_a_rebuild_leaves_only_what_the_database_holds(workshop_session):
    two_phones(workshop_session)
    assert sum(regie(workshop_session)) == 2
    live_state.rebuild(workshop_session)
    snapshot = live_state.snapshot(info_for(workshop_session))
    assert sum(snapshot.counts_for(1, "regie")) == 1 and snapshot.joined == 2


def test_a_reset_rebuilds_the_store_without_the_reset_positions(workshop_session, django_capture_on_commit_callbacks):
    two_phones(workshop_session)
    with django_capture_on_commit_callbacks(execute=True):
        session_control.reset_slider(session=workshop_session, slider="regie")
    assert sum(regie(workshop_session)) == 0


def test_ensure_seeded_keeps_a_seeded_store_as_it_is(workshop_session):
    two_phones(workshop_session)
    live_state.ensure_seeded(info_for(workshop_session))
    assert sum(regie(workshop_session)) == 2  # the live move stays: nothing was lost


def test_ensure_seeded_refills_a_store_that_lost_the_session(workshop_session):
    two_phones(workshop_session)
    async_to_sync(runtime().store.forget)(workshop_session.code)  # as after a Redis restart
    live_state.ensure_seeded(info_for(workshop_session))
    assert async_to_sync(runtime().store.is_seeded)(workshop_session.code)
    assert sum(regie(workshop_session)) == 1


def test_a_snapshot_of_a_store_that_lost_the_session_is_the_committed_one(workshop_session):
    two_phones(workshop_session)
    async_to_sync(runtime().store.forget)(workshop_session.code)
    assert sum(live_state.snapshot(info_for(workshop_session)).counts_for(1, "regie")) == 1


@pytest.mark.django_db(transaction=True)
async def test_the_async_twins_do_the_same_from_a_socket(workshop_session):
    await sync_to_async(two_phones)(workshop_session)
    info = await sync_to_async(info_for)(workshop_session)
    store = runtime().store
    await live_state.aensure_seeded(info)
    assert sum((await store.snapshot(info.code)).counts_for(1, "regie")) == 2
    await live_state.arebuild(info)
    assert sum((await live_state.asnapshot(info)).counts_for(1, "regie")) == 1
    await store.forget(info.code)
    await live_state.aensure_seeded(info)
    assert sum((await store.snapshot(info.code)).counts_for(1, "regie")) == 1
    await store.forget(info.code)
    assert sum((await live_state.asnapshot(info)).counts_for(1, "regie")) == 1
