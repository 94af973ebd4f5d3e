"""Session control: the facilitator's state machine (phases, rounds, sliders, screen, reveal, timer, room,
groups, resets, notes), closing, and closing sessions left idle.

Every control is a keyword-only function that writes in one transaction and
announces the new state to the session's sockets after commit.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from workshop import aggregates, archives, broadcast, live_state
from workshop.models import Archive, Exercise, Group, Note, Position, Session, Slider
from workshop.runtime import runtime
from workshop.session_info import committed, load_session_info, session_state

log = logging.getLogger(__name__)

CODE_ATTEMPTS = 20
MAX_GROUPS = 30


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
        transaction.on_commit(lambda: announce(session=locked))


def _slider_keys(session: Session) -> list[str]:
    return list(session.exercise.sliders.order_by("order", "pk").values_list("key", flat=True))


def _known_slider(session: Session, slider: str) -> list[str]:
    """The session's slider keys, after checking that `slider` is one of them."""
    keys = _slider_keys(session)
    if slider not in keys:
        raise ControlError(_("Unknown slider."))
    return keys


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
    keys = _known_slider(session, slider)
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
    keys = _known_slider(session, slider)
    chosen = set(session.shown_sliders) | {slider} if shown else set(session.shown_sliders) - {slider}
    _update(session, results=Session.Results.PER_SLIDER, shown_sliders=[k for k in keys if k in chosen])


def reveal_profile(*, session: Session, revealed: bool) -> None:
    if revealed and session.status == Session.Status.LOBBY:
        raise ControlError(_("Nobody has placed a slider yet: open the sliders first, then reveal the profile."))
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
        group = Group.objects.create(
            session=session, name=name, order=session.groups.count(), created_round=session.round
        )
        transaction.on_commit(lambda: announce(session=session))
    return group


def remove_group(*, session: Session, group: Group) -> None:
    if group.session_id != session.pk:
        raise ControlError(_("Choose a group of this session."))
    if group.participants.exists():
        raise ControlError(_("People have joined this group; it can no longer be removed."))
    with transaction.atomic():
        group.delete()
        transaction.on_commit(lambda: announce(session=session))


def reset_slider(*, session: Session, slider: str | None) -> None:
    """Clear the current round's positions of one slider, or of every slider (slider=None)."""
    if not session.is_open:
        raise ControlError(_("This session is closed."))
    positions = Position.objects.filter(participant__session=session, round=session.round)
    if slider is not None:
        _known_slider(session, slider)
        positions = positions.filter(slider__key=slider)
    with transaction.atomic():
        positions.delete()
        transaction.on_commit(lambda: _rebuild_live(session=session))


def _rebuild_live(*, session: Session) -> None:
    """After a reset the live store is rebuilt from what is left in the database, before any
    phone or dashboard reads it again."""
    live = runtime()
    members, positions = committed(session.pk)

    async def rebuild() -> None:
        live.outbox.discard(session.code)
        await live.store.forget(session.code)
        await live.store.seed(session.code, members=members, positions=positions)

    async_to_sync(rebuild)()
    announce(session=session, positions_changed=True)


def save_note(*, session: Session, slider: Slider, round: int, text: str) -> Note:
    if slider.exercise_id != session.exercise_id or round not in Session.ROUNDS:
        raise ControlError(_("Unknown slider."))
    note, _created = Note.objects.update_or_create(session=session, slider=slider, round=round, defaults={"text": text})
    return note


def close_session(*, session: Session) -> Archive:
    """Close the session and archive it, anonymised, for research."""
    _update(session, status=Session.Status.CLOSED, open_sliders=[], closed_at=timezone.now(), timer_ends_at=None)
    return archives.archive_session(session=session)


def set_metadata(*, session: Session, organisation_type: str, size_class: str, region: str, context: str) -> None:
    """The optional context that goes into the archive; also after closing, until archived again."""
    with transaction.atomic():
        Session.objects.filter(pk=session.pk).update(
            organisation_type=organisation_type, size_class=size_class, region=region, context=context
        )
        Archive.objects.filter(session=session).update(
            organisation_type=organisation_type, size_class=size_class, region=region, context=context
        )


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


def announce(*, session: Session, positions_changed: bool = False) -> None:
    """Tell every socket of the session its new state; once revealed or closed, with the room's result."""
    result = None
    if session.profile_to_phones or session.status == Session.Status.CLOSED:
        info = load_session_info(code=session.code)
        assert info is not None
        result = aggregates.public_result(aggregates.compute(info, live_state.snapshot(info)))
    broadcast.session_changed(
        code=session.code, state=session_state(session), result=result, positions_changed=positions_changed
    )
