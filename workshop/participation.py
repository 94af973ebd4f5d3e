"""Participation: what a phone does in a session. Join (or come back), choose a group, move, set or
abstain, and leave. See docs/protocol.md.

A move is live only: it goes to this process's outbox, which puts it in the live
store (at once in memory, in a batch with Redis) and wakes the dashboards. A set
(or abstention) is stored in the database first and acknowledged once the live
store holds it too.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from channels.db import database_sync_to_async
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from workshop import closing_watch, live_state, metrics, workflow
from workshop.announce import announce_current
from workshop.live import ABSTAIN
from workshop.models import Participant, Position, Session
from workshop.runtime import runtime
from workshop.session_info import SessionInfo

log = logging.getLogger(__name__)


class JoinRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Joined:
    participant: int
    token: str
    group: int | None
    created: bool


def _find_or_create_participant(info: SessionInfo, token: str | None, group: int | None) -> Joined:
    session_id = info.session.pk
    if token is not None:
        found = Participant.objects.filter(session_id=session_id, token_hash=Participant.hash_token(token)).first()
        if found is not None:
            return Joined(found.pk, token, found.group_id, created=False)
    if group is not None and not info.has_group(group):
        raise JoinRefused("unknown_group", _("There is no such group in this session."))
    with transaction.atomic():
        status, room_locked, cap = _lock_session(session_id)
        if status == Session.Status.CLOSED:
            # Closed by another process, a command or cron since this process's copy was read.
            raise JoinRefused("session_closed", _("This session has closed."))
        if room_locked:
            raise JoinRefused("room_locked", _("The room is locked: no one new can join."))
        if cap is not None and Participant.objects.filter(session_id=session_id).count() >= cap:
            raise JoinRefused("room_full", _("This session is full."))
        token = Participant.new_token()
        participant = Participant.objects.create(
            session_id=session_id, token_hash=Participant.hash_token(token), group_id=group
        )
    return Joined(participant.pk, token, group, created=True)


def _lock_session(session_id: int) -> tuple[str, bool, int | None]:
    """The session's status, room lock and cap, its row locked until the join commits (on PostgreSQL; SQLite
    serialises writers itself). Plain SQL: the one query of every join, and the ORM's query building
    cost three times the query itself."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT status, room_locked, max_participants FROM {Session._meta.db_table} WHERE id = %s{lock}",
            [session_id],
        )
        status, room_locked, cap = cursor.fetchone()
    return status, bool(room_locked), cap


# Made once, not per call: building the wrapper costs about as much as the thread trip it makes.
_afind_or_create_participant = database_sync_to_async(_find_or_create_participant)


async def join(*, info: SessionInfo, token: str | None, group: int | None) -> Joined:
    """A phone says hello: its participant, new or known, counted as connected. Raises JoinRefused."""
    joined = await _afind_or_create_participant(info, token, group)
    live = runtime()
    await live_state.aensure_seeded(info)
    await live.store.add_member(info.code, joined.participant, joined.group)
    await live.store.touch(info.code, joined.participant)
    live.socket_opened(info.code, joined.participant)
    closing_watch.watch()
    live.outbox.mark(info.code)
    if joined.created:
        log.info("participant joined session=%s", info.code)
    return joined


async def find_participant(*, info: SessionInfo, token: str) -> tuple[int, int | None] | None:
    """The participant (and group) a token belongs to in this session, or None."""
    found = await Participant.objects.filter(
        session_id=info.session.pk, token_hash=Participant.hash_token(token)
    ).afirst()
    return None if found is None else (found.pk, found.group_id)


def _set_group(session_id: int, participant: int, group: int) -> bool:
    """Put a participant in a group: their first choice, or a change while the groups are not locked."""
    with transaction.atomic():
        locked = Session.objects.filter(pk=session_id).values_list("groups_locked", flat=True).first()
        found = Participant.objects.filter(pk=participant)
        if locked:
            found = found.filter(group__isnull=True)
        return bool(found.update(group_id=group))


_aset_group = database_sync_to_async(_set_group)


async def choose_group(*, info: SessionInfo, participant: int, group: int) -> bool:
    """Put a participant in a group, or move them to another until the facilitator locks the groups;
    False when the groups are locked and they have one.

    What they placed counts for the new group at once, on the control panel,
    the screen and the results: nobody needs to move again.
    """
    if not info.has_group(group):
        raise JoinRefused("unknown_group", _("There is no such group in this session."))
    if not await _aset_group(info.session.pk, participant, group):
        return False
    live = runtime()
    await live.store.add_member(info.code, participant, group)
    live.outbox.mark(info.code)
    return True


async def positions(*, info: SessionInfo, participant: int, round: int) -> dict[str, int | str | None]:
    """A participant's latest positions in a round, including unapplied moves, as the protocol writes them:
    a value, "abstain" for "geen mening", or None where nothing is placed yet."""
    live = runtime()
    found = await live.store.positions_of(info.code, participant, round, info.slider_keys)
    found.update(live.outbox.pending_for(info.code, participant, round))
    return {key: "abstain" if value == ABSTAIN else value for key, value in found.items()}


async def still_connected(*, info: SessionInfo, participant: int) -> None:
    await runtime().store.touch(info.code, participant)


async def leave(*, info: SessionInfo, participant: int) -> None:
    """One socket of a participant closed; when it was their last in this process, they are no longer connected."""
    live = runtime()
    if live.socket_closed(info.code, participant):
        await live.store.drop(info.code, participant)
        live.outbox.mark(info.code)


def record_move(*, info: SessionInfo, participant: int, slider: str, value: int) -> None:
    """A position while dragging: live only, never a database row."""
    metrics.moved()
    runtime().outbox.put(info.code, (info.session.round, participant, slider), value)


class StaleSet(Exception):
    """A `set` older than the value already stored for that slider (a replayed or reordered frame)."""


class NotPlaced(Exception):
    """The session, as stored, does not take this position now (closed, or the slider locked meanwhile by
    another process, a command or the timer). `code` is the protocol's error code."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _stored_state(session_id: int) -> workflow.State:
    """The session's controls as committed, its row shared-locked until the position commits: a close (which
    takes the row for update) waits for the sets in flight, and every set after it sees it closed. Plain SQL:
    this runs once per `set`."""
    lock = " FOR SHARE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, round, open_sliders, timer_ends_at, timer_locks, timer_expired"
            f" FROM {Session._meta.db_table} WHERE id = %s{lock}",
            [session_id],
        )
        status, round, opened, ends, locks, expired = cursor.fetchone()
    if isinstance(opened, str):
        opened = json.loads(opened)
    if isinstance(ends, str):
        ends = datetime.fromisoformat(ends)
    if ends is not None and ends.tzinfo is None:
        ends = ends.replace(tzinfo=UTC)  # SQLite keeps UTC without its zone
    return workflow.State(
        status=status,
        round=round,
        slider_keys=tuple(opened),
        open_sliders=tuple(opened),
        timer_ends_at=ends,
        timer_locks=bool(locks),
        timer_expired=bool(expired),
    )


def _store_position(
    session_id: int, participant: int, slider: tuple[int, str], round: int, value: int | None, seq: int, clear: bool
) -> int | None:
    """Store a committed value (or take it back: `clear`) unless a newer one is there, in the transaction that
    checks the session takes it; returns the value stored now (None for "geen mening" or nothing)."""
    slider_id, key = slider
    with transaction.atomic():
        state = _stored_state(session_id)
        if state.status == workflow.CLOSED:
            raise NotPlaced("session_closed", "This session has closed.")
        if state.round != round or not workflow.may_place(state, key, timezone.now()):
            raise NotPlaced("slider_locked", "This slider is locked right now.")
        row = (
            Position.objects.select_for_update()
            .filter(participant_id=participant, slider_id=slider_id, round=round)
            .first()
        )
        if row is None:
            if not clear:
                Position.objects.create(
                    participant_id=participant, slider_id=slider_id, round=round, value=value, seq=seq
                )
            return value
        if seq < row.seq:
            raise StaleSet
        if clear:
            row.delete()
            return None
        if seq > row.seq:
            row.value, row.seq = value, seq
            row.save(update_fields=["value", "seq", "updated_at"])
        return row.value


_astore_position = database_sync_to_async(_store_position)


async def record_set(
    *, info: SessionInfo, participant: int, slider: str, value: int | None, seq: int, clear: bool = False
) -> int:
    """A committed position (None: "geen mening"; `clear`: none at all): durable before this returns, then
    live. Returns the round.

    The same `seq` again (a resend after a lost ack) is acknowledged with the value
    already stored; an older `seq` raises StaleSet and changes nothing. A session that does not take it
    (NotPlaced) changes nothing either.
    """
    round = info.session.round
    try:
        stored = await _astore_position(
            info.session.pk, participant, (info.slider(slider).pk, slider), round, value, seq, clear
        )
    except NotPlaced:
        # What this process's phones hold is older than the database: tell them all, once a second at most.
        if runtime().stale_state(info.code, asyncio.get_running_loop().time()):
            await database_sync_to_async(announce_current)(code=info.code)
        raise
    live = None if clear else ABSTAIN if stored is None else stored
    # Acknowledged only once the dashboards' store holds it too, so that a crash
    # after the ack cannot leave the projector showing an older value.
    await runtime().outbox.put_and_wait(info.code, (round, participant, slider), live)
    metrics.stored()
    return round
