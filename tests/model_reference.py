"""The reference model of one workshop session, written from the documents, not from workshop/.

What a session is and what each control and phone message does come from README.md,
docs/architecture.md (the transition table), docs/protocol.md (phone messages, the statistics,
what the screen may carry) and docs/results-format.md; the profiles' targets from the exercise
file (docs/exercise-format.md). Statistics are computed here with the `statistics` module as
docs/protocol.md defines them; nothing of workshop.stats, workshop.profiles or
workshop.aggregates is used, so that a slip there cannot hide in both.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from tests.phones import DEFAULT_EXERCISE

ABSTAIN = "abstain"
EXERCISE = json.loads(DEFAULT_EXERCISE.read_text())
SLIDERS: list[str] = [s["key"] for s in EXERCISE["sliders"]]
TARGETS: list[tuple[str, dict[str, int]]] = [(p["key"], p["target"]) for p in EXERCISE["profiles"]]
MAX_GROUPS = 30
MIN_GROUP_SHOWN = 3  # results-format.md, "Small groups"
TIMER_SECONDS = (15, 3600)  # docs/architecture.md, "Limits": timer 15 s to 60 min

Value = int | str  # 0..100, or ABSTAIN


@dataclass
class Participant:
    """A phone as the session knows it: its group and its positions per (round, slider)."""

    group: str | None
    live: dict[tuple[int, str], Value] = field(default_factory=dict)  # moves and sets: the live view
    stored: dict[tuple[int, str], Value] = field(default_factory=dict)  # committed: the results


@dataclass
class Summary:
    n: int
    median: float | None
    q1: float | None
    q3: float | None
    abstained: int


def summarize(values: list[Value]) -> Summary:
    """n, median and quartiles as docs/protocol.md defines them ("inclusive"; with n = 1 both are the value)."""
    numbers = sorted(v for v in values if v != ABSTAIN)
    abstained = len(values) - len(numbers)
    if not numbers:
        return Summary(0, None, None, None, abstained)
    if len(numbers) == 1:
        return Summary(1, numbers[0], numbers[0], numbers[0], abstained)
    q1, _q2, q3 = statistics.quantiles(numbers, n=4, method="inclusive")
    return Summary(len(numbers), statistics.median(numbers), q1, q3, abstained)


def nearest_profile(medians: dict[str, float | None]) -> str | None:
    """Euclidean distance over the sliders with a value; ties go to the earlier profile; None without values."""
    present = [k for k in SLIDERS if medians.get(k) is not None]
    if not present:
        return None
    best, best_distance = None, math.inf
    for key, target in TARGETS:
        distance = math.sqrt(sum((medians[k] - target[k]) ** 2 for k in present))  # type: ignore[operator]
        if distance < best_distance:
            best, best_distance = key, distance
    return best


@dataclass
class Outcome:
    """What the model expects of one action: allowed, or refused with one of these reasons."""

    allowed: bool
    reasons: frozenset[str] = frozenset()

    @staticmethod
    def refuse(*reasons: str) -> Outcome:
        return Outcome(False, frozenset(reasons))


OK = Outcome(True)


@dataclass
class SessionModel:
    status: str = "lobby"  # lobby, positioning, discussion, closed
    round: int = 1
    open: list[str] = field(default_factory=list)
    results: str = "hidden"  # hidden, shown, per_slider
    shown: list[str] = field(default_factory=list)
    revealed: bool = False
    to_phones: bool = False
    room_locked: bool = False
    groups_locked: bool = False  # locked, a phone keeps its group; one without still chooses
    cap: int | None = None
    timer: bool = False
    timer_locks: bool = False
    timer_expired: bool = False
    screen: str = "room"
    screen_group: str | None = None
    groups: list[tuple[str, int]] = field(default_factory=list)  # (name, round it was made in), in order
    notes: dict[tuple[str, int], str] = field(default_factory=dict)
    participants: list[Participant] = field(default_factory=list)  # in the order they joined

    # Rules ------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.status != "closed"

    def slider_open(self, key: str) -> bool:
        """Phones may place it: positioning, opened, not revealed, and not stopped by a timer that locks."""
        stopped = self.timer and self.timer_locks and self.timer_expired
        return self.status == "positioning" and key in self.open and not stopped and not self.revealed

    @property
    def stage(self) -> str:
        """The stage of docs/architecture.md's transition table."""
        if self.status in ("lobby", "closed"):
            return self.status
        if self.revealed:
            return "revealed"
        if self.status == "discussion":
            return "discussing"
        return "open" if any(self.slider_open(k) for k in SLIDERS) else "locked"

    def next_step(self) -> str | None:
        """The control panel's one next step (docs/architecture.md, "The server decides"): open all → next
        slider → lock and discuss → show results → reveal → show on phones → round 2 → close."""
        stage = self.stage
        if stage == "lobby":
            return "start"
        if stage == "open":
            opened = [k for k in SLIDERS if self.slider_open(k)]
            return "step" if len(opened) == 1 and opened[0] != SLIDERS[-1] else "discussion"
        if stage == "locked":
            return "discussion"
        if stage == "discussing":
            return "results" if self.results == "hidden" else "reveal"
        if stage == "revealed":
            return "reveal_phones" if not self.to_phones else "round2" if self.round == 1 else "close"
        return None

    def results_visible(self, key: str) -> bool:
        return self.results == "shown" or (self.results == "per_slider" and key in self.shown)

    def group_names(self) -> list[str]:
        return [name for name, _round in self.groups]

    # Statistics ---------------------------------------------------------------

    def _values(self, round: int, key: str, group: str | None, committed: bool) -> list[Value]:
        return [
            values[(round, key)]
            for p in self.participants
            if group is None or p.group == group
            for values in [p.stored if committed else p.live]
            if (round, key) in values
        ]

    def summary(self, round: int, key: str, group: str | None = None, *, committed: bool = False) -> Summary:
        values = [
            values[(round, key)]
            for p in self.participants
            if group is None or p.group == group
            for values in [p.stored if committed else p.live]
            if (round, key) in values
        ]
        found = summarize(values)
        if group is not None and 0 < found.n < MIN_GROUP_SHOWN:
            # results-format.md, "Small groups": a group with fewer answers shows its count only.
            return Summary(found.n, None, None, None, found.abstained)
        return found

    def screen_best(self) -> str | None:
        """The profile the screen shows once revealed: one group on the screen is that group all the way."""
        return self.best(self.round, self.screen_group if self.screen == "group" else None)

    def best(self, round: int, group: str | None = None, *, committed: bool = False) -> str | None:
        if group is not None and any(
            0 < summarize(self._values(round, k, group, committed)).n < MIN_GROUP_SHOWN for k in SLIDERS
        ):
            return None  # a small group has no profile
        return nearest_profile({k: self.summary(round, k, group, committed=committed).median for k in SLIDERS})

    def public_result(self, *, committed: bool = False) -> dict[str, Any]:
        """Per round, the room's medians and nearest profile: what a phone is shown when it is revealed. A slider
        with fewer than MIN_GROUP_SHOWN answers shows no median (one's own and the median would give another's)."""
        return {
            str(r): {
                "medians": {k: self._shown_median(self.summary(r, k, committed=committed)) for k in SLIDERS},
                "best": self.best(r, committed=committed),
            }
            for r in range(1, self.round + 1)
        }

    @staticmethod
    def _shown_median(summary: Any) -> float | None:
        return summary.median if summary.n >= MIN_GROUP_SHOWN else None

    # Facilitator controls ------------------------------------------------------

    def control(self, action: str, **data: Any) -> Outcome:
        """Apply one control if the session allows it now; a refused control changes nothing."""
        if not self.is_open:
            return Outcome.refuse("closed")
        outcome = getattr(self, f"_{action}")(**data)
        return OK if outcome is None else outcome

    def _open_sliders(self, keys: list[str]) -> None:
        # "Reopening withdraws the reveal"; a timer that ran out is done with once placing starts again.
        self.revealed = self.to_phones = False
        if self.timer_expired:
            self.timer = self.timer_locks = self.timer_expired = False
        self.open = [k for k in SLIDERS if k in keys]
        self.status = "positioning"

    def _start(self) -> None:
        self._open_sliders(SLIDERS)

    def _step(self, direction: int) -> Outcome | None:
        current = [k for k in SLIDERS if k in self.open]
        if self.status != "positioning" or len(current) != 1:
            index = 0 if direction > 0 else len(SLIDERS) - 1
        else:
            index = SLIDERS.index(current[0]) + direction
        if not 0 <= index < len(SLIDERS):
            return Outcome.refuse("no_slider_there")
        self._open_sliders([SLIDERS[index]])
        return None

    def _slider(self, slider: str, on: bool) -> None:
        if on:
            self._open_sliders([*(self.open if self.status == "positioning" else []), slider])
        else:
            self.open = [k for k in self.open if k != slider]

    def _discussion(self) -> Outcome | None:
        if self.stage not in ("open", "locked"):
            return Outcome.refuse("open_first")
        self.status, self.open = "discussion", []
        return None

    def _round2(self) -> Outcome | None:
        if self.round != 1 or self.status == "lobby":
            return Outcome.refuse("round")
        self.round, self.status, self.open = 2, "positioning", list(SLIDERS)
        self.results, self.shown, self.revealed, self.to_phones = "hidden", [], False, False
        self.timer = self.timer_locks = self.timer_expired = False
        return None

    def _results(self, mode: str) -> None:
        self.results = mode

    def _slider_results(self, slider: str, on: bool) -> None:
        chosen = set(self.shown) | {slider} if on else set(self.shown) - {slider}
        self.results, self.shown = "per_slider", [k for k in SLIDERS if k in chosen]

    def _reveal(self, on: bool) -> Outcome | None:
        if on and self.stage == "lobby":
            return Outcome.refuse("open_first")
        if on:  # revealing locks the sliders (from `open` too): the answers the profile rests on stand
            self.status, self.open = "discussion", []
        self.revealed = on
        self.to_phones = self.to_phones and on
        return None

    def _reveal_phones(self, on: bool) -> Outcome | None:
        if on and self.stage != "revealed":
            return Outcome.refuse("reveal_first")
        self.to_phones = on
        return None

    def _timer(self, seconds: int, lock: bool) -> Outcome | None:
        if not TIMER_SECONDS[0] <= seconds <= TIMER_SECONDS[1]:
            return Outcome.refuse("timer_bounds")
        self.timer, self.timer_locks, self.timer_expired = True, lock, False
        return None

    def _timer_stop(self) -> None:
        self.timer = self.timer_locks = self.timer_expired = False

    def _room(self, on: bool) -> None:
        self.room_locked = on

    def _groups_lock(self, on: bool) -> None:
        self.groups_locked = on

    def _cap(self, cap: int | None) -> None:
        self.cap = cap

    def _screen(self, view: str, group: str | None) -> Outcome | None:
        if view == "group" and group not in self.group_names():
            return Outcome.refuse("unknown_group")
        self.screen, self.screen_group = view, group if view == "group" else None
        return None

    def _group_add(self, name: str) -> Outcome | None:
        if name.lower() in (n.lower() for n in self.group_names()) or len(self.groups) >= MAX_GROUPS:
            return Outcome.refuse("group_name")
        self.groups.append((name, self.round))
        return None

    def _group_remove(self, group: str) -> Outcome | None:
        if group not in self.group_names():
            return Outcome.refuse("unknown_group")
        self.groups = [(n, r) for n, r in self.groups if n != group]
        for p in self.participants:  # its members keep their positions and choose a group again
            if p.group == group:
                p.group = None
        if self.screen_group == group:  # the screen showed it: back to the room
            self.screen, self.screen_group = "room", None
        return None

    def cleared_by_reset(self, slider: str | None) -> dict[int, set[str]]:
        """Whose answers a reset takes away, before it does (docs/protocol.md, `reset`): what they stored in
        this round."""
        return {
            i: {k for r, k in p.stored if r == self.round and (slider is None or k == slider)}
            for i, p in enumerate(self.participants)
        }

    def reset_notice_stands(self, participant: int, slider: str) -> bool:
        """docs/protocol.md, `reset`: a phone's notice stays until the slider is placed again, and goes for good
        once it cannot be placed."""
        open_now = self.may_place(participant, slider).allowed
        return open_now and self.phone_positions(participant, self.round)[slider] is None

    def _reset(self, slider: str | None) -> None:
        for p in self.participants:
            for key in [k for k in p.stored if k[0] == self.round and (slider is None or k[1] == slider)]:
                del p.stored[key]
            # The live view is refilled from what is stored: moves never committed go with it.
            p.live = dict(p.stored)

    def _note(self, slider: str, round: int, text: str) -> None:
        self.notes[(slider, round)] = text

    def _close(self) -> None:
        self.status, self.open = "closed", []
        self.timer = self.timer_locks = self.timer_expired = False

    # Server events ------------------------------------------------------------

    def expire_timer(self) -> bool:
        """The timer ran out; whether anything changed."""
        if not self.is_open or not self.timer or self.timer_expired:
            return False
        self.timer_expired = True
        if self.timer_locks:
            self.open = []
        return True

    # Phones ---------------------------------------------------------------------

    def join(self, *, returning: int | None, group: str | None = None) -> Outcome | int:
        """A hello: the participant's index, or why it is refused."""
        if not self.is_open:
            return Outcome.refuse("session_closed")
        if returning is not None:
            return returning
        if group is not None and group not in self.group_names():
            return Outcome.refuse("unknown_group")
        if self.room_locked:
            return Outcome.refuse("room_locked")
        if self.cap is not None and len(self.participants) >= self.cap:
            return Outcome.refuse("room_full")
        self.participants.append(Participant(group))
        return len(self.participants) - 1

    def may_place(self, participant: int, slider: str) -> Outcome:
        if not self.is_open:
            return Outcome.refuse("session_closed")
        reasons = set()
        if self.groups and self.participants[participant].group is None:
            reasons.add("group_required")
        if not self.slider_open(slider):
            reasons.add("slider_locked")
        return Outcome.refuse(*reasons) if reasons else OK

    def why_not(self, participant: int, key: str) -> str | None:
        """Why this phone may not place this slider now, as its state says (docs/architecture.md)."""
        if not self.is_open:
            return "closed"
        if not self.slider_open(key):
            timer_ran_out = self.status == "positioning" and self.timer and self.timer_locks and self.timer_expired
            return "time_up" if timer_ran_out else "not_open"
        return "choose_group" if self.groups and self.participants[participant].group is None else None

    def place(self, participant: int, slider: str, value: Value | None, *, commit: bool) -> Outcome:
        """A move (commit=False), a set or "geen mening" (commit=True), or taking either back (value None)."""
        outcome = self.may_place(participant, slider)
        if outcome.allowed:
            p, key = self.participants[participant], (self.round, slider)
            for values in (p.live, p.stored) if commit else (p.live,):
                if value is None:
                    values.pop(key, None)
                else:
                    values[key] = value
        return outcome

    def choose_group(self, participant: int, group: str) -> Outcome:
        reasons = {
            reason
            for reason, applies in [
                ("session_closed", not self.is_open),
                ("unknown_group", group not in self.group_names()),
                ("groups_locked", self.groups_locked and self.participants[participant].group is not None),
            ]
            if applies
        }
        if reasons:
            return Outcome.refuse(*reasons)
        self.participants[participant].group = group
        return OK

    def phone_positions(self, participant: int, round: int) -> dict[str, Value | None]:
        live = self.participants[participant].live
        return {k: live.get((round, k)) for k in SLIDERS}
