from __future__ import annotations

import copy
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from workshop import aggregates, exercises, live
from workshop.models import (
    Archive,
    ArchiveGroup,
    ArchiveNote,
    ArchivePosition,
    ArchiveSummary,
    Exercise,
    Group,
    Note,
    Participant,
    Position,
    Profile,
    Session,
    Slider,
)
from workshop.profiles import ProfileTarget

log = logging.getLogger(__name__)

CODE_ATTEMPTS = 20
MAX_GROUPS = 30


def dashboard_group(code: str) -> str:
    return f"dash.{code}"


def phones_group(code: str) -> str:
    return f"phones.{code}"


# Exercises -----------------------------------------------------------------


def import_exercise(*, data: Any) -> Exercise:
    """Validate a decoded exercise document and create or update it; nothing is written on error.

    An exercise that sessions or archives already used is never changed: a
    changed file becomes a new version (one above the newest), so archives keep
    the version they were run with. An unchanged file changes nothing.
    """
    spec = exercises.parse_exercise(data)
    with transaction.atomic():
        newest = Exercise.objects.select_for_update().filter(slug=spec.slug).order_by("-version").first()
        if newest is not None and exercise_in_use(newest):
            if exercises.parse_exercise({**exercises.dump_exercise(newest), "version": spec.version}) == spec:
                return newest
            spec = replace(spec, version=newest.version + 1)
        return exercises.save_exercise(spec, apps=apps)


def exercise_in_use(exercise: Exercise) -> bool:
    return exercise.sessions.exists() or exercise.archives.exists()


def new_exercise_version(*, exercise: Exercise) -> Exercise:
    """An editable copy of an exercise as the next version, for changes after it has been used."""
    with transaction.atomic():
        newest = Exercise.objects.select_for_update().filter(slug=exercise.slug).order_by("-version").first()
        assert newest is not None
        spec = replace(exercises.parse_exercise(exercises.dump_exercise(exercise)), version=newest.version + 1)
        return exercises.save_exercise(spec, apps=apps)


def export_exercise(*, exercise: Exercise) -> dict[str, Any]:
    return exercises.dump_exercise(exercise)


# Sessions ------------------------------------------------------------------


class ControlError(Exception):
    """A facilitator's control that cannot apply now; the message says why."""


def create_session(*, facilitator: AbstractBaseUser, exercise: Exercise, title: str) -> Session:
    for _attempt in range(CODE_ATTEMPTS):
        try:
            with transaction.atomic():
                return Session.objects.create(
                    code=Session.new_code(), title=title, exercise=exercise, facilitator=facilitator
                )
        except IntegrityError:
            # A code collision: 31**6 codes make this rare; try another.
            continue
    raise RuntimeError("could not find a free join code")


STATE_FIELDS = [
    "status",
    "round",
    "open_sliders",
    "results",
    "shown_sliders",
    "profile_revealed",
    "profile_to_phones",
    "room_locked",
    "max_participants",
    "timer_ends_at",
    "timer_locks",
    "screen",
    "screen_group_id",
    "closed_at",
]


def _update(session: Session, **changes: Any) -> None:
    """Write the changed fields of an open session and broadcast the new state after commit."""
    with transaction.atomic():
        locked = Session.objects.select_for_update().get(pk=session.pk)
        if locked.status == Session.Status.CLOSED:
            raise ControlError(_("This session is closed."))
        changes["last_activity"] = timezone.now()
        for name, value in changes.items():
            setattr(locked, name, value)
            setattr(session, name, value)
        locked.save(update_fields=[name.removesuffix("_id") for name in changes])
        transaction.on_commit(lambda: broadcast_session_changed(session=locked))


def _slider_keys(session: Session) -> list[str]:
    return list(session.exercise.sliders.order_by("order", "pk").values_list("key", flat=True))


def start_positioning(*, session: Session) -> None:
    """Open every slider: from the lobby, or back from the discussion."""
    _update(session, status=Session.Status.POSITIONING, open_sliders=_slider_keys(session))


def step_slider(*, session: Session, direction: int) -> None:
    """Open one slider at a time: the next (+1) or previous (-1) after the one open now."""
    keys = _slider_keys(session)
    current = [k for k in keys if k in session.open_sliders]
    if session.status != Session.Status.POSITIONING or len(current) != 1:
        index = 0 if direction > 0 else len(keys) - 1
    else:
        index = keys.index(current[0]) + direction
    if not 0 <= index < len(keys):
        raise ControlError(_("There is no slider in that direction."))
    _update(session, status=Session.Status.POSITIONING, open_sliders=[keys[index]])


def set_slider_open(*, session: Session, slider: str, open: bool) -> None:
    keys = _slider_keys(session)
    if slider not in keys:
        raise ControlError(_("Unknown slider."))
    chosen = set(session.open_sliders) | {slider} if open else set(session.open_sliders) - {slider}
    changes: dict[str, Any] = {"open_sliders": [k for k in keys if k in chosen]}
    if open and session.status == Session.Status.LOBBY:
        changes["status"] = Session.Status.POSITIONING
    _update(session, **changes)


def start_discussion(*, session: Session) -> None:
    """Lock every slider (values stay) and talk about the result."""
    if session.status == Session.Status.LOBBY:
        raise ControlError(_("Open the sliders first."))
    _update(session, status=Session.Status.DISCUSSION, open_sliders=[])


def start_round_two(*, session: Session) -> None:
    """Round 2, "how do we want it": the same sliders again, results and profile hidden."""
    if session.round != 1:
        raise ControlError(_("Round 2 has already started."))
    if session.status == Session.Status.LOBBY:
        raise ControlError(_("Run round 1 first."))
    _update(
        session,
        round=2,
        status=Session.Status.POSITIONING,
        open_sliders=_slider_keys(session),
        results=Session.Results.HIDDEN,
        shown_sliders=[],
        profile_revealed=False,
        profile_to_phones=False,
        timer_ends_at=None,
        timer_locks=False,
    )


def set_results(*, session: Session, mode: str) -> None:
    if mode not in Session.Results.values:
        raise ControlError(_("Unknown results mode."))
    _update(session, results=mode)


def set_slider_results(*, session: Session, slider: str, shown: bool) -> None:
    keys = _slider_keys(session)
    if slider not in keys:
        raise ControlError(_("Unknown slider."))
    chosen = set(session.shown_sliders) | {slider} if shown else set(session.shown_sliders) - {slider}
    _update(session, results=Session.Results.PER_SLIDER, shown_sliders=[k for k in keys if k in chosen])


def reveal_profile(*, session: Session, revealed: bool) -> None:
    changes: dict[str, Any] = {"profile_revealed": revealed}
    if not revealed:
        changes["profile_to_phones"] = False
    _update(session, **changes)


def reveal_to_phones(*, session: Session, revealed: bool) -> None:
    if revealed and not session.profile_revealed:
        raise ControlError(_("Reveal the profile on the screen first."))
    _update(session, profile_to_phones=revealed)


def start_timer(*, session: Session, seconds: int, lock_when_done: bool) -> None:
    if not 10 <= seconds <= 3600:
        raise ControlError(_("A timer runs from 10 seconds to 60 minutes."))
    _update(session, timer_ends_at=timezone.now() + timedelta(seconds=seconds), timer_locks=lock_when_done)


def stop_timer(*, session: Session) -> None:
    _update(session, timer_ends_at=None, timer_locks=False)


def set_room_locked(*, session: Session, locked: bool) -> None:
    _update(session, room_locked=locked)


def set_participant_cap(*, session: Session, cap: int | None) -> None:
    if cap is not None and cap < 1:
        raise ControlError(_("A cap must be at least 1."))
    _update(session, max_participants=cap)


def set_screen(*, session: Session, view: str, group: Group | None = None) -> None:
    if view not in Session.Screen.values:
        raise ControlError(_("Unknown screen view."))
    if view == Session.Screen.GROUP and (group is None or group.session_id != session.pk):
        raise ControlError(_("Choose a group of this session."))
    _update(session, screen=view, screen_group_id=group.pk if view == Session.Screen.GROUP and group else None)


def add_group(*, session: Session, name: str) -> Group:
    name = name.strip()
    if not name:
        raise ControlError(_("Give the group a name."))
    with transaction.atomic():
        if session.groups.filter(name__iexact=name).exists():
            raise ControlError(_("There is already a group with that name."))
        if session.groups.count() >= MAX_GROUPS:
            raise ControlError(_("A session has at most %(n)d groups.") % {"n": MAX_GROUPS})
        group = Group.objects.create(session=session, name=name, order=session.groups.count())
        transaction.on_commit(lambda: broadcast_session_changed(session=session))
    return group


def remove_group(*, session: Session, group: Group) -> None:
    if group.session_id != session.pk:
        raise ControlError(_("Choose a group of this session."))
    if group.participants.exists():
        raise ControlError(_("People have joined this group; it can no longer be removed."))
    with transaction.atomic():
        group.delete()
        transaction.on_commit(lambda: broadcast_session_changed(session=session))


def reset_slider(*, session: Session, slider: str | None) -> None:
    """Clear the current round's positions of one slider, or of every slider (slider=None)."""
    if not session.is_open:
        raise ControlError(_("This session is closed."))
    positions = Position.objects.filter(participant__session=session, round=session.round)
    if slider is not None:
        if slider not in _slider_keys(session):
            raise ControlError(_("Unknown slider."))
        positions = positions.filter(slider__key=slider)
    with transaction.atomic():
        positions.delete()
        transaction.on_commit(lambda: _rebuild_live(session=session))


def _rebuild_live(*, session: Session) -> None:
    async def rebuild() -> None:
        _outbox().discard(session.code)
        await live.get_store().forget(session.code)

    async_to_sync(rebuild)()
    broadcast_session_changed(session=session, positions_changed=True)


def save_note(*, session: Session, slider: Slider, round: int, text: str) -> Note:
    if slider.exercise_id != session.exercise_id or round not in Session.ROUNDS:
        raise ControlError(_("Unknown slider."))
    note, _created = Note.objects.update_or_create(session=session, slider=slider, round=round, defaults={"text": text})
    return note


def close_session(*, session: Session) -> Archive:
    """Close the session and archive it, anonymised, for research."""
    _update(session, status=Session.Status.CLOSED, open_sliders=[], closed_at=timezone.now(), timer_ends_at=None)
    return archive_session(session=session)


def set_metadata(*, session: Session, organisation_type: str, size_class: str, region: str, context: str) -> None:
    """The optional context that goes into the archive; also after closing, until archived again."""
    with transaction.atomic():
        Session.objects.filter(pk=session.pk).update(
            organisation_type=organisation_type, size_class=size_class, region=region, context=context
        )
        Archive.objects.filter(session=session).update(
            organisation_type=organisation_type, size_class=size_class, region=region, context=context
        )


# Archives --------------------------------------------------------------------


def archive_session(*, session: Session) -> Archive:
    """Copy a closed session into an anonymised archive, once.

    Tokens become pseudonyms P1, P2... in order of joining; times become the
    month; only metadata the facilitator entered is kept. The phones' token
    hashes are then overwritten, so nothing links the archive to a phone.
    """
    with transaction.atomic():
        existing = Archive.objects.filter(session=session).first()
        if existing is not None:
            return existing
        info = load_session_info(code=session.code)
        assert info is not None
        members, positions = committed(session.pk)
        snapshot = committed_snapshot(session.code, members, positions)
        result = aggregates.compute(info, snapshot)
        session = Session.objects.get(pk=session.pk)
        archive = Archive.objects.create(
            exercise_id=session.exercise_id,
            session=session,
            month=timezone.localtime(session.created_at).date().replace(day=1),
            participants=len(members),
            rounds=session.round,
            organisation_type=session.organisation_type,
            size_class=session.size_class,
            region=session.region,
            context=session.context,
            profile_now=result.rounds[1].best or "",
            profile_desired=(result.rounds[2].best or "") if 2 in result.rounds else "",
        )
        groups = {}
        for order, group in enumerate(result.groups):
            groups[group.id] = ArchiveGroup.objects.create(
                archive=archive, name=group.name, order=order, participants=group.size, profile=group.result.best or ""
            )
        pseudonym = {pk: number for number, pk in enumerate(sorted(members, key=_join_order(session)), start=1)}
        sliders = {s.key: s for s in info.sliders}
        ArchivePosition.objects.bulk_create(
            ArchivePosition(
                archive=archive,
                participant=pseudonym[participant],
                group=groups.get(members[participant]),
                round=round,
                slider=sliders[key],
                value=None if value == live.ABSTAIN else value,
            )
            for round, participant, key, value in positions
        )
        ArchiveSummary.objects.bulk_create(
            ArchiveSummary(
                archive=archive,
                round=round,
                slider=sliders[key],
                n=summary.n,
                median=summary.median,
                q1=summary.q1,
                q3=summary.q3,
                abstained=data.abstained[key],
            )
            for round, data in result.rounds.items()
            for key, summary in data.summaries.items()
        )
        ArchiveNote.objects.bulk_create(
            ArchiveNote(archive=archive, slider_id=note.slider_id, round=note.round, text=note.text)
            for note in session.notes.exclude(text="")
        )
        # Nothing may lead from the archive back to a phone's token.
        for participant in Participant.objects.filter(session=session):
            participant.token_hash = secrets.token_hex(32)
            participant.save(update_fields=["token_hash"])
    log.info("archived session=%s", session.code)
    return archive


def _join_order(session: Session) -> Callable[[int], tuple[datetime, int]]:
    joined = dict(Participant.objects.filter(session=session).values_list("pk", "created_at"))
    return lambda pk: (joined[pk], pk)


def committed_snapshot(
    code: str, members: dict[int, int | None], positions: list[tuple[int, int, str, int]]
) -> live.Snapshot:
    """Counts over what was committed (not live moves), for results and archives."""
    store = live.MemoryStore(connected_ttl=0)

    async def snapshot() -> live.Snapshot:
        await store.seed(code, members=members, positions=positions)
        return await store.snapshot(code)

    return async_to_sync(snapshot)()


def archive_idle_sessions(*, now: datetime | None = None) -> int:
    """Close and archive every open session idle for ARCHIVE_IDLE_HOURS (cron runs this)."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.ARCHIVE_IDLE_HOURS)
    idle = (
        Session.objects.exclude(status=Session.Status.CLOSED)
        .annotate(last_position=Max("participants__positions__updated_at"))
        .filter(last_activity__lt=cutoff)
        .filter(Q(last_position__isnull=True) | Q(last_position__lt=cutoff))
    )
    count = 0
    for session in idle:
        close_session(session=session)
        count += 1
    return count


def delete_archive(*, archive: Archive) -> None:
    """Delete an archive for good (an AVG request): its positions, groups, summaries and notes go with it."""
    with transaction.atomic():
        archive.delete()
    log.info("deleted an archive")


def purge_archives(*, now: datetime | None = None) -> int:
    """Delete archives older than ARCHIVE_RETENTION_DAYS (by the month they ran in)."""
    now = now or timezone.now()
    cutoff = (now - timedelta(days=settings.ARCHIVE_RETENTION_DAYS)).date()
    with transaction.atomic():
        _total, deleted = Archive.objects.filter(month__lt=cutoff.replace(day=1)).delete()
    return deleted.get("workshop.Archive", 0)


def session_state(session: Session) -> dict[str, Any]:
    """The session's controls as plain data, for sockets to apply without a query."""
    state = {name: getattr(session, name) for name in STATE_FIELDS}
    for name in ("timer_ends_at", "closed_at"):
        state[name] = state[name].isoformat() if state[name] else None
    state["title"] = session.title
    state["groups"] = list(session.groups.order_by("order", "pk").values_list("pk", "name"))
    return state


def public_result(info: SessionInfo, snapshot: live.Snapshot) -> dict[str, Any]:
    """Per round, the room's medians and nearest profile: what phones see once it is revealed."""
    result = aggregates.compute(info, snapshot)
    return {
        str(round): {"medians": {k: s.median for k, s in data.summaries.items()}, "best": data.best}
        for round, data in result.rounds.items()
    }


def broadcast_session_changed(*, session: Session, positions_changed: bool = False) -> None:
    layer = get_channel_layer()
    result = None
    if session.profile_to_phones or session.status == Session.Status.CLOSED:
        # Computed once here rather than by every phone's socket.
        info = load_session_info(code=session.code)
        assert info is not None
        result = public_result(info, live_snapshot(info=info))
    message = {
        "type": "session.changed",
        "state": session_state(session),
        "positions_changed": positions_changed,
        "result": result,
    }
    async_to_sync(layer.group_send)(dashboard_group(session.code), message)
    async_to_sync(layer.group_send)(phones_group(session.code), message)


# The live path -------------------------------------------------------------


@dataclass(frozen=True)
class SessionInfo:
    """What a socket needs of its session: read once on connect, then kept current by broadcasts."""

    session: Session
    sliders: tuple[Slider, ...]
    profiles: tuple[Profile, ...]
    targets: tuple[ProfileTarget, ...]
    groups: tuple[tuple[int, str], ...]

    @property
    def code(self) -> str:
        return self.session.code

    @property
    def slider_keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.sliders)

    def slider(self, key: str) -> Slider:
        return next(s for s in self.sliders if s.key == key)

    def profile(self, key: str) -> Profile:
        return next(p for p in self.profiles if p.key == key)

    def with_state(self, state: dict[str, Any]) -> SessionInfo:
        session = copy.copy(self.session)
        for name in STATE_FIELDS:
            value = state[name]
            if name in ("timer_ends_at", "closed_at") and value:
                value = datetime.fromisoformat(value)
            setattr(session, name, value)
        session.title = state["title"]
        return replace(self, session=session, groups=tuple((g, n) for g, n in state["groups"]))


ExerciseParts = tuple[tuple[Slider, ...], tuple[Profile, ...], tuple[ProfileTarget, ...]]
# An exercise version that a session uses never changes (see import_exercise), so every
# socket in this process shares one copy of its sliders and profiles: at a congress that
# is most of a phone's memory.
_exercise_parts: dict[tuple[int, datetime], ExerciseParts] = {}


def _parts(exercise: Exercise) -> ExerciseParts:
    key = (exercise.pk, exercise.created_at)
    parts = _exercise_parts.get(key)
    if parts is None:
        sliders = tuple(exercise.sliders.order_by("order", "pk"))
        profiles = tuple(exercise.profiles.order_by("order", "pk").prefetch_related("targets__slider"))
        targets = tuple(ProfileTarget(p.key, {t.slider.key: t.value for t in p.targets.all()}) for p in profiles)
        parts = _exercise_parts[key] = (sliders, profiles, targets)
    return parts


def load_session_info(*, code: str) -> SessionInfo | None:
    session = Session.objects.select_related("exercise").filter(code=code.upper()[:12]).first()
    if session is None:
        return None
    sliders, profiles, targets = _parts(session.exercise)
    groups = tuple(session.groups.order_by("order", "pk").values_list("pk", "name"))
    return SessionInfo(session=session, sliders=sliders, profiles=profiles, targets=targets, groups=groups)


aload_session_info = database_sync_to_async(load_session_info)


def _outbox() -> live.Outbox:
    global _the_outbox
    if _the_outbox is None:
        _the_outbox = live.Outbox(settings.LIVE_FLUSH, notify_dashboards)
    return _the_outbox


_the_outbox: live.Outbox | None = None


async def notify_dashboards(code: str) -> None:
    await get_channel_layer().group_send(dashboard_group(code), {"type": "live.changed"})


def committed(session_id: int) -> tuple[dict[int, int | None], list[tuple[int, int, str, int]]]:
    members = dict(Participant.objects.filter(session_id=session_id).values_list("pk", "group_id"))
    positions = [
        (round, participant, key, live.ABSTAIN if value is None else value)
        for round, participant, key, value in Position.objects.filter(participant__session_id=session_id).values_list(
            "round", "participant_id", "slider__key", "value"
        )
    ]
    return members, positions


async def ensure_live(*, info: SessionInfo) -> None:
    """Fill an empty live store (a restart, a flushed Redis, a reset) from what was committed."""
    store = live.get_store()
    if not await store.is_seeded(info.code):
        members, positions = await database_sync_to_async(committed)(info.session.pk)
        await store.seed(info.code, members=members, positions=positions)


def live_snapshot(*, info: SessionInfo) -> live.Snapshot:
    """For sync code (views, broadcasts): the session's live state now, seeded if empty.

    The database is read here, in the request's own thread and connection; only
    the live store is reached through the event loop.
    """
    store = live.get_store()
    if not async_to_sync(store.is_seeded)(info.code):
        members, positions = committed(info.session.pk)
        async_to_sync(store.seed)(info.code, members=members, positions=positions)
    return async_to_sync(store.snapshot)(info.code)


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
    if group is not None and group not in dict(info.groups):
        raise JoinRefused("unknown_group", _("There is no such group in this session."))
    with transaction.atomic():
        session = Session.objects.select_for_update().get(pk=session_id)
        if session.room_locked:
            raise JoinRefused("room_locked", _("The room is closed to new participants."))
        if session.max_participants is not None and session.participants.count() >= session.max_participants:
            raise JoinRefused("room_full", _("This session is full."))
        token = Participant.new_token()
        participant = Participant.objects.create(
            session_id=session_id, token_hash=Participant.hash_token(token), group_id=group
        )
    return Joined(participant.pk, token, group, created=True)


async def join(*, info: SessionInfo, token: str | None, group: int | None) -> Joined:
    """A phone says hello: its participant, new or known. Raises JoinRefused."""
    joined = await database_sync_to_async(_find_or_create_participant)(info, token, group)
    await ensure_live(info=info)
    store = live.get_store()
    await store.add_member(info.code, joined.participant, joined.group)
    await store.touch(info.code, joined.participant)
    _outbox().mark(info.code)
    if joined.created:
        log.info("participant joined session=%s", info.code)
    return joined


def _set_group(participant: int, group: int) -> bool:
    return bool(Participant.objects.filter(pk=participant, group__isnull=True).update(group_id=group))


async def choose_group(*, info: SessionInfo, participant: int, group: int) -> bool:
    """Put a participant without a group in one; False when they already had one."""
    if group not in dict(info.groups):
        raise JoinRefused("unknown_group", _("There is no such group in this session."))
    if not await database_sync_to_async(_set_group)(participant, group):
        return False
    await live.get_store().add_member(info.code, participant, group)
    _outbox().mark(info.code)
    return True


async def positions(*, info: SessionInfo, participant: int, round: int) -> dict[str, int | None]:
    """A participant's latest positions in a round (ABSTAIN for "geen mening"), including unapplied moves."""
    await ensure_live(info=info)  # after a reset the store is empty until something seeds it again
    found = await live.get_store().positions_of(info.code, participant, round, info.slider_keys)
    found.update(_outbox().pending_for(info.code, participant, round))
    return found


async def still_connected(*, info: SessionInfo, participant: int) -> None:
    await live.get_store().touch(info.code, participant)


async def leave(*, info: SessionInfo, participant: int) -> None:
    await live.get_store().drop(info.code, participant)
    _outbox().mark(info.code)


def record_move(*, info: SessionInfo, participant: int, slider: str, value: int) -> None:
    """A position while dragging: live only, never a database row."""
    _outbox().put(info.code, (info.session.round, participant, slider), value)


class StaleSet(Exception):
    """A `set` older than the value already stored for that slider (a replayed or reordered frame)."""


def _store_position(participant: int, slider_id: int, round: int, value: int | None, seq: int) -> int | None:
    """Store a committed value unless a newer one is there; returns the value stored now."""
    with transaction.atomic():
        row = (
            Position.objects.select_for_update()
            .filter(participant_id=participant, slider_id=slider_id, round=round)
            .first()
        )
        if row is None:
            Position.objects.create(participant_id=participant, slider_id=slider_id, round=round, value=value, seq=seq)
            return value
        if seq < row.seq:
            raise StaleSet
        if seq > row.seq:
            row.value, row.seq = value, seq
            row.save(update_fields=["value", "seq", "updated_at"])
        return row.value


async def record_set(*, info: SessionInfo, participant: int, slider: str, value: int, seq: int) -> int:
    """A committed position (or live.ABSTAIN): durable before this returns, then live. Returns the round.

    The same `seq` again (a resend after a lost ack) is acknowledged with the value
    already stored; an older `seq` raises StaleSet and changes nothing.
    """
    round = info.session.round
    stored = await database_sync_to_async(_store_position)(
        participant, info.slider(slider).pk, round, None if value == live.ABSTAIN else value, seq
    )
    # Acknowledged only once the dashboards' store holds it too, so that a crash
    # after the ack cannot leave the projector showing an older value.
    await _outbox().put_and_wait(info.code, (round, participant, slider), live.ABSTAIN if stored is None else stored)
    return round


async def flush_live() -> None:
    """Apply what this process has batched now (tests, and a clean shutdown)."""
    await _outbox().flush()
