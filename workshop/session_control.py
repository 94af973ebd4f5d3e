"""Session control: the facilitator's controls and the timer's expiry (closing: closing.py).

Every write goes through `guarded`: the session's row locked, the transition table (workflow.py) asked,
the change written in the same transaction, the new state announced to the session's sockets after
commit. A refused control raises ControlError with the table's reason and writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from workshop import limits, live_state, workflow
from workshop.announce import announce
from workshop.models import Archive, Exercise, Group, Note, Position, Session, Slider
from workshop.session_info import info_for

log = logging.getLogger(__name__)

CODE_ATTEMPTS = 20


class ControlError(Exception):
    """A control that cannot apply now; the message says why."""


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


Change = Callable[[Session, tuple[str, ...]], dict[str, Any] | None]


def _slider_keys(session: Session) -> tuple[str, ...]:
    return tuple(session.exercise.sliders.order_by("order", "pk").values_list("key", flat=True))


def guarded(
    session: Session, action: str, change: Change, *, now: datetime | None = None, announced: bool = True
) -> Session:
    """The one entry of every control: lock the row, ask the table, write, announce after commit.

    `change` gets the locked session and its slider keys, may refuse with ControlError, does its own
    writes of other rows, and returns the session's fields to change (None: nothing of the session).
    The caller's `session` is brought up to date.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = Session.objects.select_for_update().select_related("exercise").get(pk=session.pk)
        keys = _slider_keys(locked)
        archived = locked.status == Session.Status.CLOSED and Archive.objects.filter(session=locked).exists()
        reason = workflow.refusal(action, locked.workflow_state(keys, archived=archived), now)
        if reason is not None:
            raise ControlError(_(reason))
        changes = change(locked, keys) or {}
        changes["last_activity"] = now
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.save(update_fields=[name.removesuffix("_id") for name in changes])
        if announced:
            transaction.on_commit(lambda: announce(session=locked))
    for name in [f.attname for f in Session._meta.concrete_fields]:
        setattr(session, name, getattr(locked, name))
    return locked


def _known(keys: tuple[str, ...], slider: str) -> None:
    if slider not in keys:
        raise ControlError(_("Unknown slider."))


# Opening a slider starts placing again: a reveal is withdrawn (its profile would follow the new answers
# live and read as final) and a timer that ran out is done with.
REOPENED = {
    "status": Session.Status.POSITIONING,
    "profile_revealed": False,
    "profile_to_phones": False,
}


def _reopened(session: Session, open_sliders: list[str]) -> dict[str, Any]:
    changes: dict[str, Any] = {**REOPENED, "open_sliders": open_sliders}
    if session.timer_expired:
        changes.update(timer_ends_at=None, timer_locks=False, timer_expired=False)
    return changes


def start_positioning(*, session: Session) -> None:
    """Open every slider: from the lobby, one at a time, the discussion or a reveal."""
    guarded(session, "start", lambda s, keys: _reopened(s, list(keys)))


def step_slider(*, session: Session, direction: int) -> None:
    """Open one slider at a time: the next (+1) or previous (-1) after the one open now."""

    def change(s: Session, keys: tuple[str, ...]) -> dict[str, Any]:
        current = workflow.flow(s.workflow_state(keys), timezone.now()).open_slider
        if current is None or s.status != Session.Status.POSITIONING:
            index = 0 if direction > 0 else len(keys) - 1
        else:
            index = keys.index(current) + direction
        if not 0 <= index < len(keys):
            raise ControlError(_("There is no slider in that direction."))
        return _reopened(s, [keys[index]])

    guarded(session, "step", change)


def set_slider_open(*, session: Session, slider: str, open: bool) -> None:
    def change(s: Session, keys: tuple[str, ...]) -> dict[str, Any]:
        _known(keys, slider)
        if not open:
            return {"open_sliders": [k for k in keys if k in s.open_sliders and k != slider]}
        opened = set(s.open_sliders) if s.status == Session.Status.POSITIONING else set()
        return _reopened(s, [k for k in keys if k in opened | {slider}])

    guarded(session, "slider", change)


def start_discussion(*, session: Session) -> None:
    """Lock every slider (values stay) and talk about the result."""
    guarded(session, "discussion", lambda s, keys: {"status": Session.Status.DISCUSSION, "open_sliders": []})


def start_round_two(*, session: Session) -> None:
    """Round 2, "how do we want it": the same sliders again, results and profile hidden."""
    guarded(
        session,
        "round2",
        lambda s, keys: {
            "round": 2,
            "status": Session.Status.POSITIONING,
            "open_sliders": list(keys),
            "results": Session.Results.HIDDEN,
            "shown_sliders": [],
            "profile_revealed": False,
            "profile_to_phones": False,
            "timer_ends_at": None,
            "timer_locks": False,
            "timer_expired": False,
        },
    )


def set_results(*, session: Session, mode: str) -> None:
    if mode not in Session.Results.values:
        raise ControlError(_("Unknown results mode."))
    guarded(session, "results", lambda s, keys: {"results": mode})


def set_slider_results(*, session: Session, slider: str, shown: bool) -> None:
    def change(s: Session, keys: tuple[str, ...]) -> dict[str, Any]:
        _known(keys, slider)
        chosen = set(s.shown_sliders) | {slider} if shown else set(s.shown_sliders) - {slider}
        return {"results": Session.Results.PER_SLIDER, "shown_sliders": [k for k in keys if k in chosen]}

    guarded(session, "slider_results", change)


def reveal_profile(*, session: Session, revealed: bool) -> None:
    if revealed:
        # Revealing ends the placing: the answers the profile rests on stand.
        guarded(
            session,
            "reveal",
            lambda s, keys: {
                "profile_revealed": True,
                "status": Session.Status.DISCUSSION,
                "open_sliders": [],
                # A new reveal gives the room's own profile the stage, never a comparison left on from before.
                **({"screen": Session.Screen.ROOM} if s.screen == Session.Screen.COMPARE else {}),
            },
        )
    else:
        guarded(session, "hide_profile", lambda s, keys: {"profile_revealed": False, "profile_to_phones": False})


def reveal_to_phones(*, session: Session, revealed: bool) -> None:
    guarded(session, "reveal_phones" if revealed else "hide_from_phones", lambda s, k: {"profile_to_phones": revealed})


def start_timer(*, session: Session, seconds: int, lock_when_done: bool) -> None:
    if not limits.TIMER_MIN_SECONDS <= seconds <= limits.TIMER_MAX_SECONDS:
        raise ControlError(
            _("A timer runs from %(min)d seconds to %(max)d minutes.")
            % {"min": limits.TIMER_MIN_SECONDS, "max": limits.TIMER_MAX_SECONDS // 60}
        )
    guarded(
        session,
        "timer",
        lambda s, keys: {
            "timer_ends_at": timezone.now() + timedelta(seconds=seconds),
            "timer_locks": lock_when_done,
            "timer_expired": False,
        },
    )


def stop_timer(*, session: Session) -> None:
    guarded(
        session, "timer_stop", lambda s, keys: {"timer_ends_at": None, "timer_locks": False, "timer_expired": False}
    )


def expire_timer(*, code: str, now: datetime | None = None) -> bool:
    """The server's event when a timer runs out: marks it expired and, when it locks, locks the sliders;
    announced to every socket. Any process may call it at the due time; only the first one writes.
    Returns whether this call expired the timer."""
    now = now or timezone.now()
    session = Session.objects.filter(code=code).first()
    if session is None or session.timer_ends_at is None or now < session.timer_ends_at:
        return False

    def change(s: Session, keys: tuple[str, ...]) -> dict[str, Any]:
        if s.timer_ends_at is None or now < s.timer_ends_at:
            raise ControlError(_("No timer is running."))
        return {"timer_expired": True, **({"open_sliders": []} if s.timer_locks else {})}

    try:
        guarded(session, "timer_expired", change, now=now)
    except ControlError:
        return False  # stopped, restarted or expired by another process meanwhile
    return True


def set_room_locked(*, session: Session, locked: bool) -> None:
    guarded(session, "room", lambda s, keys: {"room_locked": locked})


def set_participant_cap(*, session: Session, cap: int | None) -> None:
    if cap is not None and not 1 <= cap <= limits.CAP_MAX:
        raise ControlError(_("A cap must be at least 1."))
    guarded(session, "cap", lambda s, keys: {"max_participants": cap})


def set_screen(*, session: Session, view: str, group: Group | None = None) -> None:
    if view not in Session.Screen.values:
        raise ControlError(_("Unknown screen view."))
    if view == Session.Screen.GROUP and (group is None or group.session_id != session.pk):
        raise ControlError(_("Choose a group of this session."))
    chosen = group.pk if view == Session.Screen.GROUP and group else None
    if view == Session.Screen.COMPARE and session.reference_copy is None:
        raise ControlError(_("Choose a reference for this session first."))
    action = "compare" if view == Session.Screen.COMPARE else "screen"  # the comparison only after the reveal
    guarded(session, action, lambda s, keys: {"screen": view, "screen_group_id": chosen})


def add_group(*, session: Session, name: str) -> Group:
    name = name.strip()
    if not name:
        raise ControlError(_("Give the group a name."))
    if len(name) > limits.GROUP_NAME_MAX_CHARS:
        raise ControlError(_("A group name has at most %(n)d characters.") % {"n": limits.GROUP_NAME_MAX_CHARS})
    made: list[Group] = []

    def change(s: Session, keys: tuple[str, ...]) -> None:
        if s.groups.filter(name__iexact=name).exists():
            raise ControlError(_("There is already a group with that name."))
        count = s.groups.count()
        if count >= limits.MAX_GROUPS:
            raise ControlError(_("A session has at most %(n)d groups.") % {"n": limits.MAX_GROUPS})
        made.append(Group.objects.create(session=s, name=name, order=count, created_round=s.round))

    guarded(session, "group_add", change)
    return made[0]


def remove_group(*, session: Session, group: Group) -> None:
    """Its members keep every position and choose a group again; the group leaves every view."""

    def change(s: Session, keys: tuple[str, ...]) -> dict[str, Any]:
        if group.session_id != s.pk:
            raise ControlError(_("Choose a group of this session."))
        had_members = group.participants.exists()
        group.delete()
        if had_members:
            transaction.on_commit(lambda: live_state.rebuild(info_for(s)))
        return {"screen": Session.Screen.ROOM, "screen_group_id": None} if s.screen_group_id == group.pk else {}

    guarded(session, "group_remove", change)


def rename_group(*, session: Session, group: Group, name: str) -> None:
    name = name.strip()
    if not name:
        raise ControlError(_("Give the group a name."))

    def change(s: Session, keys: tuple[str, ...]) -> None:
        if group.session_id != s.pk:
            raise ControlError(_("Choose a group of this session."))
        if s.groups.filter(name__iexact=name).exclude(pk=group.pk).exists():
            raise ControlError(_("There is already a group with that name."))
        Group.objects.filter(pk=group.pk).update(name=name)

    guarded(session, "group_rename", change)


def lock_groups(*, session: Session, locked: bool) -> None:
    """Locked, a phone keeps the group it has; a phone without one still chooses."""
    guarded(session, "groups_lock", lambda s, keys: {"groups_locked": locked})


def reset_slider(*, session: Session, slider: str | None) -> None:
    """Clear the current round's positions of one slider, or of every slider (slider=None)."""

    def change(s: Session, keys: tuple[str, ...]) -> None:
        positions = Position.objects.filter(participant__session=s, round=s.round)
        if slider is not None:
            _known(keys, slider)
            positions = positions.filter(slider__key=slider)
        # Whose answers go: their phones say so until placed again (docs/protocol.md, `reset`).
        cleared = [[participant, key] for participant, key in positions.values_list("participant_id", "slider__key")]
        positions.delete()
        # The live store is rebuilt from what is left before anyone reads it again; then the sockets hear.
        transaction.on_commit(lambda: live_state.rebuild(info_for(s)))
        transaction.on_commit(lambda: announce(session=s, cleared={"round": s.round, "positions": cleared}))

    guarded(session, "reset", change, announced=False)


def save_note(*, session: Session, slider: Slider, round: int, text: str) -> Note:
    if slider.exercise_id != session.exercise_id or round not in Session.ROUNDS:
        raise ControlError(_("Unknown slider."))
    if len(text) > limits.NOTE_MAX_CHARS:
        raise ControlError(_("A note has at most %(n)d characters.") % {"n": limits.NOTE_MAX_CHARS})
    saved: list[Note] = []

    def change(s: Session, keys: tuple[str, ...]) -> None:
        note, _created = Note.objects.update_or_create(session=s, slider=slider, round=round, defaults={"text": text})
        saved.append(note)

    # Notes are the facilitator's own: no socket needs to hear of them.
    guarded(session, "note", change, announced=False)
    return saved[0]
