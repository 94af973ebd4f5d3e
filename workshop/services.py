"""Everything that changes state goes through here: typed, keyword-only functions.

Database writers broadcast after the transaction commits. The live path
(`record_move`) writes no database row: it goes into the live store through
the per-process Outbox.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from workshop import exercises, live
from workshop.models import Exercise, Participant, Position, Profile, Session, Slider
from workshop.profiles import ProfileTarget

log = logging.getLogger(__name__)

CODE_ATTEMPTS = 20


def dashboard_group(code: str) -> str:
    return f"dash.{code}"


def phones_group(code: str) -> str:
    return f"phones.{code}"


# Exercises -----------------------------------------------------------------


def import_exercise(*, data: Any) -> Exercise:
    """Validate a decoded exercise document and create or update it; nothing is written on error."""
    spec = exercises.parse_exercise(data)
    with transaction.atomic():
        existing = Exercise.objects.filter(slug=spec.slug, version=spec.version).first()
        if existing is not None and existing.sessions.exists():
            old_keys = set(existing.sliders.values_list("key", flat=True))
            if old_keys != {s.key for s in spec.sliders}:
                raise exercises.ExerciseFormatError(
                    "sliders",
                    f"version {spec.version} is in use by sessions; its sliders cannot change. "
                    "Give the file a higher version.",
                )
        return exercises.save_exercise(spec, apps=apps)


def export_exercise(*, exercise: Exercise) -> dict[str, Any]:
    return exercises.dump_exercise(exercise)


# Sessions ------------------------------------------------------------------


def create_session(*, facilitator: AbstractBaseUser, exercise: Exercise, title: str) -> Session:
    for _ in range(CODE_ATTEMPTS):
        try:
            with transaction.atomic():
                return Session.objects.create(
                    code=Session.new_code(),
                    title=title,
                    exercise=exercise,
                    facilitator=facilitator,
                )
        except IntegrityError:
            # A code collision: 31**6 codes make this rare; try another.
            continue
    raise RuntimeError("could not find a free join code")


def reveal_profile(*, session: Session, revealed: bool) -> None:
    with transaction.atomic():
        Session.objects.filter(pk=session.pk).update(profile_revealed=revealed)
        session.profile_revealed = revealed
        transaction.on_commit(lambda: broadcast_session_changed(code=session.code))


def close_session(*, session: Session) -> None:
    with transaction.atomic():
        now = timezone.now()
        Session.objects.filter(pk=session.pk).update(status=Session.Status.CLOSED, closed_at=now)
        session.status, session.closed_at = Session.Status.CLOSED, now
        transaction.on_commit(lambda: broadcast_session_changed(code=session.code))


def broadcast_session_changed(*, code: str) -> None:
    layer = get_channel_layer()
    message = {"type": "session.changed"}
    async_to_sync(layer.group_send)(dashboard_group(code), message)
    async_to_sync(layer.group_send)(phones_group(code), message)


# The live path -------------------------------------------------------------


@dataclass(frozen=True)
class SessionInfo:
    """What a socket needs of its session, read once on connect."""

    session: Session
    sliders: tuple[Slider, ...]
    profiles: tuple[Profile, ...]
    targets: tuple[ProfileTarget, ...]

    @property
    def code(self) -> str:
        return self.session.code

    @property
    def slider_keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.sliders)

    def slider(self, key: str) -> Slider:
        return next(s for s in self.sliders if s.key == key)


def load_session_info(*, code: str) -> SessionInfo | None:
    session = Session.objects.select_related("exercise", "facilitator").filter(code=code.upper()).first()
    if session is None:
        return None
    sliders = tuple(session.exercise.sliders.order_by("order", "pk"))
    profiles = tuple(session.exercise.profiles.order_by("order", "pk").prefetch_related("targets__slider"))
    targets = tuple(ProfileTarget(p.key, {t.slider.key: t.value for t in p.targets.all()}) for p in profiles)
    return SessionInfo(session=session, sliders=sliders, profiles=profiles, targets=targets)


aload_session_info = database_sync_to_async(load_session_info)


def _outbox() -> live.Outbox:
    global _the_outbox
    if _the_outbox is None:
        _the_outbox = live.Outbox(settings.LIVE_FLUSH, notify_dashboards)
    return _the_outbox


_the_outbox: live.Outbox | None = None


async def notify_dashboards(code: str) -> None:
    await get_channel_layer().group_send(dashboard_group(code), {"type": "live.changed"})


def _committed(session_id: int) -> tuple[list[int], list[tuple[int, str, int]]]:
    members = list(Participant.objects.filter(session_id=session_id).values_list("pk", flat=True))
    positions = list(
        Position.objects.filter(participant__session_id=session_id).values_list(
            "participant_id", "slider__key", "value"
        )
    )
    return members, positions


async def ensure_live(*, info: SessionInfo) -> None:
    """Fill an empty live store (a restart, a flushed Redis) from what was committed."""
    store = live.get_store()
    if not await store.is_seeded(info.code):
        # Plain sync_to_async: a sync view calls this through async_to_sync inside its own
        # request, where closing "old" connections would close the request's connection.
        members, positions = await sync_to_async(_committed)(info.session.pk)
        await store.seed(info.code, members=members, positions=positions)


def _find_or_create_participant(session_id: int, token: str | None) -> tuple[int, str, bool]:
    if token is not None:
        found = Participant.objects.filter(session_id=session_id, token_hash=Participant.hash_token(token)).first()
        if found is not None:
            return found.pk, token, False
    token = Participant.new_token()
    participant = Participant.objects.create(session_id=session_id, token_hash=Participant.hash_token(token))
    return participant.pk, token, True


async def join(*, info: SessionInfo, token: str | None) -> tuple[int, str, dict[str, int | None]]:
    """A phone says hello: its participant (new or known) and its last positions."""
    participant, token, created = await database_sync_to_async(_find_or_create_participant)(info.session.pk, token)
    await ensure_live(info=info)
    store = live.get_store()
    await store.add_member(info.code, participant)
    await store.touch(info.code, participant)
    positions = await store.positions_of(info.code, participant, info.slider_keys)
    positions.update(_outbox().pending_for(info.code, participant))
    _outbox().mark(info.code)
    if created:
        log.info("participant joined session=%s", info.code)
    return participant, token, positions


async def still_connected(*, info: SessionInfo, participant: int) -> None:
    await live.get_store().touch(info.code, participant)


async def leave(*, info: SessionInfo, participant: int) -> None:
    await live.get_store().drop(info.code, participant)
    _outbox().mark(info.code)


def record_move(*, info: SessionInfo, participant: int, slider: str, value: int) -> None:
    """A position while dragging: live only, never a database row."""
    _outbox().put(info.code, participant, slider, value)


def _store_position(participant: int, slider_id: int, value: int) -> None:
    with transaction.atomic():
        Position.objects.update_or_create(participant_id=participant, slider_id=slider_id, defaults={"value": value})


async def record_set(*, info: SessionInfo, participant: int, slider: str, value: int) -> None:
    """A committed position: durable in the database before this returns, then live."""
    await database_sync_to_async(_store_position)(participant, info.slider(slider).pk, value)
    _outbox().put(info.code, participant, slider, value)


async def flush_live() -> None:
    """Apply what this process has batched now (tests, and a clean shutdown)."""
    await _outbox().flush()
