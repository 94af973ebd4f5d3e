"""The workshop as one state machine: which stage a session is in, what every control, phone message,
timer expiry and scheduled command may do there, what comes next, and what each phone may do.

Pure: no Django. Every writer asks `refusal` before it writes (session_control.py under the session's
row lock, participation.py in the transaction that stores a position); pages and phones render what
`flow` and `slider_access` decide instead of deciding again. docs/architecture.md prints the table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


def gettext_noop(message: str) -> str:
    """Marks a reason for translation (makemessages finds it); the caller translates it when it answers."""
    return message


class Stage(StrEnum):
    LOBBY = "lobby"  # created; nobody has been asked to place anything yet
    OPEN = "open"  # placing: at least one slider open
    LOCKED = "locked"  # placing paused: every slider locked (by hand or by the timer)
    DISCUSSING = "discussing"  # the round's answers stand; talk about them
    REVEALED = "revealed"  # the round's profile is on the screen
    CLOSED = "closed"  # ended; the archive is being written
    ARCHIVED = "archived"  # ended and archived


LIVE = frozenset({Stage.LOBBY, Stage.OPEN, Stage.LOCKED, Stage.DISCUSSING, Stage.REVEALED})
ENDED = frozenset({Stage.CLOSED, Stage.ARCHIVED})
EVERY = LIVE | ENDED

# Session.status values (models.py), repeated here so that this module needs no Django.
POSITIONING, DISCUSSION, LOBBY, CLOSED = "positioning", "discussion", "lobby", "closed"
HIDDEN = "hidden"


@dataclass(frozen=True)
class State:
    """What the rules read of a session: its stored controls, nothing derived."""

    status: str
    round: int
    slider_keys: tuple[str, ...]
    open_sliders: tuple[str, ...]
    results: str = HIDDEN
    profile_revealed: bool = False
    profile_to_phones: bool = False
    timer_ends_at: datetime | None = None
    timer_locks: bool = False
    timer_expired: bool = False
    archived: bool = False


def time_is_up(state: State, now: datetime) -> bool:
    """The timer has run out: announced by the server, or due by the clock and about to be."""
    return state.timer_ends_at is not None and (state.timer_expired or now >= state.timer_ends_at)


def deadline(state: State) -> datetime | None:
    """When a running timer locks the open sliders (None: no timer will)."""
    return state.timer_ends_at if state.timer_locks and not state.timer_expired else None


def open_sliders(state: State, now: datetime) -> tuple[str, ...]:
    """The sliders phones may move now, in the exercise's order. A timer that locks closes them the moment it
    runs out, before its expiry event has been written. A revealed profile rests on answers that stand."""
    if state.status != POSITIONING or state.profile_revealed or (state.timer_locks and time_is_up(state, now)):
        return ()
    return tuple(key for key in state.slider_keys if key in state.open_sliders)


def may_place(state: State, key: str, now: datetime) -> bool:
    return key in open_sliders(state, now)


def stage(state: State, now: datetime) -> Stage:
    if state.status == CLOSED:
        return Stage.ARCHIVED if state.archived else Stage.CLOSED
    if state.status == LOBBY:
        return Stage.LOBBY
    if state.profile_revealed:
        return Stage.REVEALED
    if state.status == DISCUSSION:
        return Stage.DISCUSSING
    return Stage.OPEN if open_sliders(state, now) else Stage.LOCKED


# The table -------------------------------------------------------------------

CLOSED_REASON = gettext_noop("This session is closed.")


@dataclass(frozen=True)
class Rule:
    """Where an action is allowed; elsewhere it is refused with `reason` (a closed session: CLOSED_REASON).
    `when` adds a condition on the state that refuses with its own reason."""

    allowed: frozenset[Stage]
    reason: str | Mapping[Stage, str] = CLOSED_REASON  # one reason, or one per refused stage
    when: Callable[[State], str | None] | None = None
    by: str = "facilitator"


def _round_one(state: State) -> str | None:
    return None if state.round == 1 else gettext_noop("Round 2 has already started.")


def _timer_running(state: State) -> str | None:
    if state.timer_ends_at is None or state.timer_expired:
        return gettext_noop("No timer is running.")
    return None


def _stages(*names: Stage) -> frozenset[Stage]:
    return frozenset(names)


RULES: dict[str, Rule] = {
    # Facilitator controls (views.CONTROLS and close), each under the session's row lock.
    "start": Rule(LIVE),  # open every slider; from the discussion or a reveal, the reveal is withdrawn
    "step": Rule(LIVE),  # one slider at a time: the next or previous one
    "slider": Rule(LIVE),  # open or lock one slider
    "discussion": Rule(
        _stages(Stage.OPEN, Stage.LOCKED),
        gettext_noop("Open the sliders first; once they are open, lock them to discuss."),
    ),
    "round2": Rule(
        _stages(Stage.OPEN, Stage.LOCKED, Stage.DISCUSSING, Stage.REVEALED),
        gettext_noop("Run round 1 first."),
        when=_round_one,
    ),
    "results": Rule(LIVE),
    "slider_results": Rule(LIVE),
    "reveal": Rule(  # from `open` it locks the sliders first: a revealed profile rests on answers that stand
        _stages(Stage.OPEN, Stage.LOCKED, Stage.DISCUSSING, Stage.REVEALED),
        gettext_noop("Nobody has placed a slider yet: open the sliders first, then reveal the profile."),
    ),
    "hide_profile": Rule(LIVE),
    "reveal_phones": Rule(_stages(Stage.REVEALED), gettext_noop("Reveal the profile on the screen first.")),
    "hide_from_phones": Rule(LIVE),
    "timer": Rule(LIVE),
    "timer_stop": Rule(LIVE),
    "room": Rule(LIVE),
    "cap": Rule(LIVE),
    "screen": Rule(LIVE),
    # The room against a published reference (references.py): only after the room's own reveal, so that
    # other municipalities never steer what the room answers or discusses first.
    "compare": Rule(
        _stages(Stage.REVEALED), gettext_noop("Reveal the room's own profile first; then compare it with others.")
    ),
    "reference": Rule(LIVE),  # choose the reference the room may be compared with, until the session closes
    "group_add": Rule(LIVE),
    "group_remove": Rule(LIVE),  # its members keep their positions and choose again
    "group_rename": Rule(LIVE),
    "groups_lock": Rule(LIVE),
    "reset": Rule(LIVE),
    "note": Rule(LIVE),
    "close": Rule(LIVE),
    # The session's context for research: also after closing, into its archive (docs/archive-format.md).
    "metadata": Rule(EVERY),
    # The server's own events.
    "timer_expired": Rule(LIVE, when=_timer_running, by="server"),
    "close_idle": Rule(LIVE, by="scheduled command"),
    # Phone messages (socket and HTTP fallback alike); a placing message also needs its slider open
    # (slider_access).
    "join": Rule(LIVE, gettext_noop("This session has closed."), by="phone"),
    "group": Rule(LIVE, gettext_noop("This session has closed."), by="phone"),
    "place": Rule(  # move, set, abstain and clear
        _stages(Stage.OPEN),
        gettext_noop("This slider is locked right now."),
        by="phone",
    ),
}

PLACING = ("move", "set", "abstain", "clear")


def refusal(action: str, state: State, now: datetime) -> str | None:
    """None when `action` may happen now; otherwise why not (an English message id to translate)."""
    rule = RULES["place" if action in PLACING else action]
    current = stage(state, now)
    if current not in rule.allowed:
        if current in ENDED and rule.by != "phone":
            return CLOSED_REASON
        return rule.reason if isinstance(rule.reason, str) else rule.reason[current]
    return rule.when(state) if rule.when else None


# What a phone may do ---------------------------------------------------------

NOT_OPEN, TIME_UP, CHOOSE_GROUP, SESSION_CLOSED = "not_open", "time_up", "choose_group", "closed"


def slider_access(state: State, key: str, *, needs_group: bool, now: datetime) -> str | None:
    """None when this phone may place `key` now; otherwise why not, as the phone says it:
    "closed", "not_open", "time_up" (the timer locked it) or "choose_group" (open, but groups exist and
    this phone has none yet)."""
    if state.status == CLOSED:
        return SESSION_CLOSED
    if key not in open_sliders(state, now):
        locked_by_timer = state.status == POSITIONING and state.timer_locks and time_is_up(state, now)
        return TIME_UP if locked_by_timer else NOT_OPEN
    return CHOOSE_GROUP if needs_group else None


# What the control panel shows next ------------------------------------------


@dataclass(frozen=True)
class Flow:
    """The session as the pages render it: its stage, the open sliders, and the one step that comes next."""

    stage: Stage
    open: tuple[str, ...]
    next: str | None  # an action of RULES, the control panel's one primary button

    @property
    def one_at_a_time(self) -> bool:
        return len(self.open) == 1

    @property
    def placing(self) -> bool:
        """A round's sliders are in play: open, or paused by hand or by the timer."""
        return self.stage in (Stage.OPEN, Stage.LOCKED)

    @property
    def open_slider(self) -> str | None:
        return self.open[0] if self.one_at_a_time else None

    def allows(self, action: str) -> bool:
        rule = RULES[action]
        return self.stage in rule.allowed


def flow(state: State, now: datetime) -> Flow:
    current = stage(state, now)
    opened = open_sliders(state, now)
    return Flow(stage=current, open=opened, next=_next(state, current, opened))


def _next(state: State, current: Stage, opened: tuple[str, ...]) -> str | None:
    if current == Stage.LOBBY:
        return "start"
    if current == Stage.OPEN:
        last = state.slider_keys[-1] if state.slider_keys else None
        return "step" if len(opened) == 1 and opened[0] != last else "discussion"
    if current == Stage.LOCKED:
        return "discussion"
    if current == Stage.DISCUSSING:
        return "results" if state.results == HIDDEN else "reveal"
    if current == Stage.REVEALED:
        if not state.profile_to_phones:
            return "reveal_phones"
        return "round2" if state.round == 1 else "close"
    return None


def timer_status(state: State, now: datetime) -> str | None:
    """ "running", "expired" (it ran out and is still shown), or None without a timer."""
    if state.timer_ends_at is None:
        return None
    return "expired" if time_is_up(state, now) else "running"
