"""The read model of a session: what sockets, statistics and pages need of it, read once.

A socket reads a SessionInfo on connect and keeps it current from the
`state` that every control broadcasts (`with_state`), so that a slider move
costs no query. `committed` reads what phones committed, for results and archives.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from channels.db import database_sync_to_async

from workshop import workflow
from workshop.live import ABSTAIN
from workshop.models import Exercise, Participant, Position, Profile, Session, Slider
from workshop.profiles import ProfileTarget
from workshop.runtime import runtime

# The session's controls, as broadcast to sockets.
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
    "timer_expired",
    "groups_locked",
    "screen",
    "screen_group_id",
    "closed_at",
    "reference_copy",
]
_TIMES = ("timer_ends_at", "closed_at")
_EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SessionInfo:
    """A session with its exercise's sliders and profiles and its groups."""

    session: Session
    sliders: tuple[Slider, ...]
    profiles: tuple[Profile, ...]
    targets: tuple[ProfileTarget, ...]
    groups: tuple[tuple[int, str], ...]
    # The round each group was made in: round-true views show a group only in rounds it existed.
    group_since: tuple[tuple[int, int], ...] = ()

    @property
    def code(self) -> str:
        return self.session.code

    @cached_property
    def slider_keys(self) -> tuple[str, ...]:
        # Once per session state, not once per move: every move is checked against these.
        return tuple(s.key for s in self.sliders)

    @cached_property
    def state(self) -> workflow.State:
        return self.session.workflow_state(self.slider_keys)

    @cached_property
    def movable(self) -> frozenset[str]:
        """The sliders open now, before any timer runs out: with `deadline`, a move is checked without a query
        or a new State (workflow.open_sliders decides both)."""
        return frozenset(workflow.open_sliders(self.state, _EARLIEST))

    @cached_property
    def deadline(self) -> datetime | None:
        return workflow.deadline(self.state)

    def refusal(self, action: str) -> str | None:
        """workflow.refusal for this session now (a join, a group choice)."""
        return workflow.refusal(action, self.state, datetime.now(UTC))

    def may_place(self, key: str) -> bool:
        if key not in self.movable:
            return False
        deadline = self.deadline
        return deadline is None or datetime.now(UTC) < deadline

    def slider(self, key: str) -> Slider:
        return next(s for s in self.sliders if s.key == key)

    def profile(self, key: str) -> Profile:
        return next(p for p in self.profiles if p.key == key)

    def has_group(self, group: int) -> bool:
        return any(g == group for g, _name in self.groups)

    def with_state(self, state: dict[str, Any]) -> SessionInfo:
        session = copy.copy(self.session)
        for name in STATE_FIELDS:
            value = state[name]
            if name in _TIMES and value:
                value = datetime.fromisoformat(value)
            setattr(session, name, value)
        session.title = state["title"]
        return replace(
            self,
            session=session,
            groups=tuple((g, n) for g, n in state["groups"]),
            group_since=tuple((g, r) for g, r in state.get("group_since", ())),
        )


def session_state(session: Session) -> dict[str, Any]:
    """The session's controls as plain data, for sockets to apply without a query."""
    state = {name: getattr(session, name) for name in STATE_FIELDS}
    for name in _TIMES:
        state[name] = state[name].isoformat() if state[name] else None
    state["title"] = session.title
    groups = list(session.groups.order_by("order", "pk").values_list("pk", "name", "created_round"))
    state["groups"] = [(pk, name) for pk, name, _since in groups]
    state["group_since"] = [(pk, since) for pk, _name, since in groups]
    return state


ExerciseParts = tuple[tuple[Slider, ...], tuple[Profile, ...], tuple[ProfileTarget, ...]]


def _parts(exercise: Exercise) -> ExerciseParts:
    cache = runtime().exercise_parts
    key = (exercise.pk, exercise.created_at)
    parts = cache.get(key)
    if parts is None:
        sliders = tuple(exercise.sliders.order_by("order", "pk"))
        profiles = tuple(exercise.profiles.order_by("order", "pk").prefetch_related("targets__slider"))
        targets = tuple(ProfileTarget(p.key, {t.slider.key: t.value for t in p.targets.all()}) for p in profiles)
        parts = cache[key] = (sliders, profiles, targets)
    return parts


def load_session_info(*, code: str) -> SessionInfo | None:
    session = Session.objects.select_related("exercise").filter(code=code).first()
    if session is None:
        return None
    return info_for(session)


def info_for(session: Session) -> SessionInfo:
    sliders, profiles, targets = _parts(session.exercise)
    rows = tuple(session.groups.order_by("order", "pk").values_list("pk", "name", "created_round"))
    return SessionInfo(
        session=session,
        sliders=sliders,
        profiles=profiles,
        targets=targets,
        groups=tuple((pk, name) for pk, name, _since in rows),
        group_since=tuple((pk, since) for pk, _name, since in rows),
    )


aload_session_info = database_sync_to_async(load_session_info)


async def ashared_session_info(*, code: str) -> SessionInfo | None:
    """A session for a joining phone: this process's shared copy while fresh (relay.SharedSessions)."""
    return await runtime().relay.sessions.get(code, load=aload_session_info)


Members = dict[int, int | None]
Rows = list[tuple[int, int, str, int]]


def committed(session_id: int) -> tuple[Members, Rows]:
    """Who joined (participant -> group) and what they committed: (round, participant, slider, value)."""
    members = dict(Participant.objects.filter(session_id=session_id).values_list("pk", "group_id"))
    positions = [
        (round, participant, key, ABSTAIN if value is None else value)
        for round, participant, key, value in Position.objects.filter(participant__session_id=session_id).values_list(
            "round", "participant_id", "slider__key", "value"
        )
    ]
    return members, positions
