"""A model-based test of a whole workshop: random sequences of facilitator controls, phone actions
(join, move, set, "geen mening" and taking it back, groups, reload, offline and back, the HTTP
fallback), timer expiry and idle closing, run against the real system in-process and checked after
every step against an independent reference model (tests/model_reference.py).

After every step: the control panel, the screen and the results show the model's n, median,
quartiles and profile for the room and every group; a refused control answered 409 and changed
nothing; every phone's state is the model's; the screen carries nothing the room may not see.

SESSION_MODEL_EXAMPLES and SESSION_MODEL_STEPS set the size (15 examples of 40 steps in the fast lane; the slow
test runs 200 of 40 unless told otherwise). Hypothesis prints the shrunk steps and the seed to
reproduce a failure (`--hypothesis-seed`).
"""

from __future__ import annotations

import html
import os
import time
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.model_driver import Driver, Phone, Reply
from tests.model_reference import ABSTAIN, EXERCISE, SLIDERS, SessionModel
from workshop import protocol

pytestmark = pytest.mark.django_db(transaction=True)

GROUP_NAMES = ["Trio A", "trio a", "Trio B", "Team C"]
PROFILE_NAMES = [html.escape(p["name"]["nl"]) for p in EXERCISE["profiles"]]
sliders = st.sampled_from(SLIDERS)
on_off = st.booleans()
values = st.integers(0, 100)
phone_index = st.integers(0, 63)

# Every control: (the form's action, its fields, what the model is told). Group controls name groups.
CONTROLS = st.one_of(
    st.sampled_from(["start", "discussion", "round2", "timer_stop"]).map(lambda a: (a, {"confirm": ""}, {})),
    st.sampled_from([1, -1]).map(lambda d: ("step", {"direction": "next" if d > 0 else "previous"}, {"direction": d})),
    st.tuples(st.sampled_from(["slider", "slider_results"]), sliders, on_off).map(
        lambda t: (t[0], {"slider": t[1], "on": "1" if t[2] else "0"}, {"slider": t[1], "on": t[2]})
    ),
    st.sampled_from(["hidden", "shown", "per_slider"]).map(lambda m: ("results", {"mode": m}, {"mode": m})),
    st.tuples(st.sampled_from(["reveal", "reveal_phones", "room", "groups_lock"]), on_off).map(
        lambda t: (t[0], {"on": "1" if t[1] else "0"}, {"on": t[1]})
    ),
    st.tuples(st.sampled_from([12, 60, 600]), on_off).map(
        lambda t: (
            "timer",
            {"minutes": f"{t[0] / 60:.2f}", **({"lock": "on"} if t[1] else {})},
            {"seconds": t[0], "lock": t[1]},
        )
    ),
    st.sampled_from([None, 1, 2, 3]).map(lambda c: ("cap", {"cap": "" if c is None else str(c)}, {"cap": c})),
    st.tuples(st.sampled_from(["room", "groups", "group"]), st.sampled_from(GROUP_NAMES)).map(
        lambda t: ("screen", {"view": t[0]}, {"view": t[0], "group": t[1] if t[0] == "group" else None})
    ),
    st.sampled_from(GROUP_NAMES).map(lambda n: ("group_add", {"name": n}, {"name": n})),
    st.sampled_from(GROUP_NAMES).map(lambda n: ("group_remove", {}, {"group": n})),
    st.sampled_from(["all", *SLIDERS]).map(
        lambda s: ("reset", {"slider": s, "confirm": "yes"}, {"slider": None if s == "all" else s})
    ),
    st.tuples(sliders, st.sampled_from([1, 2]), st.sampled_from(["", "Veel verschil", "Eens"])).map(
        lambda t: (
            "note",
            {"slider": t[0], "round": str(t[1]), "text": t[2]},
            {"slider": t[0], "round": t[1], "text": t[2]},
        )
    ),
)


# What a screen frame may carry of a slider whose results are hidden, and of profiles before the reveal,
# wherever in the frame it sits (a field added later included): docs/architecture.md, "one redaction".
STATISTICS = {"median", "q1", "q3", "medians", "before", "counts", "values", "dots", "split", "spread", "consensus"}
PROFILE_FIELDS = {"best", "best_before", "profile", "profiles", "match", "matches"}


def screen_leaks(frame: Any, hidden: set[str], revealed: bool, path: str = "") -> list[str]:
    """Every place in a screen frame (but its html) that shows the room what it may not see."""
    found: list[str] = []
    if isinstance(frame, list):
        for i, item in enumerate(frame):
            found += screen_leaks(item, hidden, revealed, f"{path}[{i}]")
        return found
    if not isinstance(frame, dict):
        return found
    if frame.get("key") in hidden:
        found += [f"{path}.{k}" for k, v in frame.items() if k in STATISTICS and v is not None]
    for k, v in frame.items():
        where = f"{path}.{k}"
        if k == "html":
            continue
        if k in hidden and v is not None and (not isinstance(v, dict) or set(v) - {"n"}):
            found.append(where)  # a value filed under a hidden slider's key
        if not revealed and k in PROFILE_FIELDS and v not in (None, [], {}):
            found.append(where)
        found += screen_leaks(v, hidden, revealed, where)
    return found


# The forms the primary button posts, per next step (docs/architecture.md, "The server decides").
NEXT_STEPS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "start": ({"confirm": ""}, {}),
    "step": ({"direction": "next"}, {"direction": 1}),
    "discussion": ({"confirm": ""}, {}),
    "results": ({"mode": "shown"}, {"mode": "shown"}),
    "reveal": ({"on": "1"}, {"on": True}),
    "reveal_phones": ({"on": "1"}, {"on": True}),
    "round2": ({"confirm": ""}, {}),
}


def one_decimal(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class SessionMachine(RuleBasedStateMachine):
    facilitator: Any = None
    exercise: Any = None

    @initialize(room=st.integers(0, 6), started=st.booleans())
    def open_a_session(self, room: int = 0, started: bool = False) -> None:
        """A session, and (drawn) the room that gathers before the facilitator opens it."""
        self.driver = Driver(facilitator=self.facilitator, exercise=self.exercise)
        self.model = SessionModel()
        self.who: dict[int, int] = {}  # phone (by position in driver.phones) -> the model's participant
        self.unaware: set[int] = set()  # phones whose session was closed by cron: they hear of it only when they talk
        self.fresh: set[int] = set()  # phones that got a welcome or state in this step
        self.heard: list[Any] = []  # each phone's last state at the previous check
        self.downloaded = False  # results.json downloaded since the session closed
        # Socket phones' reset notices as the model has them: phone -> (round, sliders).
        self.notices: dict[int, tuple[int, set[str]]] = {}
        self.resent: set[int] = set()  # phones that sent values again after this step's welcome
        for _ in range(room):
            self.a_phone_joins(http=False, qr=None)
        if started:
            self.facilitator_control(("start", {"confirm": ""}, {}))

    def teardown(self) -> None:
        if hasattr(self, "driver"):
            self.driver.finish()

    # The facilitator ------------------------------------------------------------------

    @rule(control=CONTROLS)
    def facilitator_control(self, control: tuple[str, dict[str, Any], dict[str, Any]]) -> None:
        action, form, told = control
        if action in ("screen", "group_remove"):
            name = told.get("group")
            group = self.driver.group_id(name) if name else None
            form = {**form, "group": "" if name is None else str(group or 999999)}
        before = self._listening()
        cleared = self.model.cleared_by_reset(told["slider"]) if action == "reset" else {}
        status = self.driver.control(action, form)
        outcome = self.model.control(action, **told)
        if outcome.allowed and cleared:
            self._heard_of_reset(cleared)
        expected = {200} if outcome.allowed else {409, 400} if action == "timer" else {409}
        assert status in expected, f"{action} {form}: answered {status}, the model says {outcome}"
        if outcome.allowed and action != "note":  # notes are the facilitator's own
            self._states_sent(before, action)

    @rule(presses=st.integers(1, 3))
    def facilitator_takes_the_next_step(self, presses: int = 1) -> None:
        """The control panel's primary button is the documented next step, and pressing it carries the
        workshop along its arc (most facilitators do little else)."""
        for _ in range(presses):
            wanted = self.model.next_step()
            shown = self.driver.next_step()
            assert shown == wanted, f"the control panel's next step is {shown}, the model's {wanted}"
            if wanted == "close":
                self.facilitator_closes(now=0)
            elif wanted is not None:
                form, told = NEXT_STEPS[wanted]
                self.facilitator_control((wanted, form, told))

    @rule(now=st.integers(0, 9))
    def facilitator_closes(self, now: int) -> None:
        if now:
            return  # most workshops close late: one draw in ten closes
        before = self._listening()
        was_open = self.model.is_open
        assert self.driver.close() in (200, 302)
        self.model.control("close")
        if was_open:
            self._states_sent(before, "close")

    def _heard_of_reset(self, cleared: dict[int, set[str]]) -> None:
        """Every phone on a socket whose participant's answer went says so (docs/protocol.md, `reset`)."""
        for i, phone in enumerate(self.driver.phones):
            if phone.conversation is None or phone.http or i not in self.who:
                continue
            round, keys = self.notices.get(i, (self.model.round, set()))
            keys = keys if round == self.model.round else set()
            self.notices[i] = (self.model.round, keys | cleared.get(self.who[i], set()))

    def _listening(self) -> list[Any]:
        """Each phone's last state if it is on a socket now (it hears every change), else None."""
        return [p.last if p.conversation is not None and not p.http else None for p in self.driver.phones]

    def _states_sent(self, before: list[Any], change: str) -> None:
        """Every phone on a socket heard of the change: a `state` after every change (docs/protocol.md)."""
        for i, last in enumerate(before):
            assert last is None or self.driver.phones[i].last is not last, f"phone {i} was not told of {change}"

    # Server events ------------------------------------------------------------------------

    @rule()
    def time_runs_out(self) -> None:
        before = self._listening()
        self.driver.expire_timer()
        if self.model.expire_timer():
            self._states_sent(before, "the timer's end")

    @rule(same_process=st.booleans(), now=st.integers(0, 9))
    def idle_session_is_closed(self, same_process: bool, now: int) -> None:
        if now:
            return
        before = self._listening()
        self.driver.idle_close(same_process=same_process)
        if not self.model.is_open:
            return
        self.model.control("close")
        if same_process:
            self._states_sent(before, "idle closing")
        else:
            self.unaware |= {i for i, p in enumerate(self.driver.phones) if self._connected(p)}

    @rule()
    def the_process_looks_for_sessions_closed_elsewhere(self) -> None:
        before = self._listening()
        self.driver.look_for_closes()
        told = {i for i in self.unaware if before[i] is not None}
        for i in told:
            assert self.driver.phones[i].last is not before[i], f"phone {i} was not told of the close by cron"
        self.unaware -= told

    # Phones ------------------------------------------------------------------------------------

    def _connected(self, phone: Phone) -> bool:
        return not phone.gone and phone.token is not None and (phone.http or phone.conversation is not None)

    def _pick(self, index: int, *, connected: bool = True) -> tuple[int, Phone] | None:
        candidates = [
            (i, p) for i, p in enumerate(self.driver.phones) if self._connected(p) == connected and not p.gone
        ]
        return candidates[index % len(candidates)] if candidates else None

    def _welcomed(self, i: int, reply: Reply, group: str | None = None) -> None:
        """Compare a hello's answer with the model's join."""
        joined = self.model.join(returning=self.who.get(i), group=group)
        if isinstance(joined, int):
            assert reply.of("welcome"), f"phone {i}: the model welcomes it, the server answered {reply}"
            self.who[i] = joined
            self.fresh.add(i)
            self.unaware.discard(i)
        else:
            assert not reply.of("welcome"), f"phone {i}: the model refuses it ({joined}), the server welcomed it"
            codes = {m.get("code") for m in reply.of("error")} | ({"session_closed"} if reply.close == 4404 else set())
            assert codes & joined.reasons, f"phone {i}: refused with {reply}, the model says {joined}"

    @rule(http=st.booleans(), qr=st.none() | st.sampled_from(GROUP_NAMES))
    def a_phone_joins(self, http: bool, qr: str | None) -> None:
        phone = Phone(http=http)
        self.driver.phones.append(phone)
        i = len(self.driver.phones) - 1
        group = self.driver.group_id(qr) if qr else None
        reply = self.driver.hello(phone, group=group)
        self._welcomed(i, reply, group=qr if group else None)
        self._replayed(i, reply)

    @precondition(lambda self: self.driver.phones)
    @rule(index=phone_index)
    def a_phone_reloads_or_comes_back(self, index: int) -> None:
        picked = self._pick(index, connected=False) or self._pick(index)
        if picked is None or picked[1].token is None:
            return
        i, phone = picked
        reply = self.driver.hello(phone)
        self.notices.pop(i, None)  # a new connection starts without a notice
        self._welcomed(i, reply)
        self._replayed(i, reply)

    def _replayed(self, i: int, reply: Reply) -> None:
        """After a welcome the page sends again what was not acknowledged, oldest first."""
        phone = self.driver.phones[i]
        if reply.of("welcome") and phone.unacked:
            # The welcome tells what was stored before the page sends again: compared now, not after.
            positions = self.model.phone_positions(self.who[i], self.model.round)
            welcome = reply.of("welcome")[0]["positions"]
            assert welcome == positions, f"phone {i} welcomed with {welcome}, the model has {positions}"
            self.resent.add(i)
        if reply.of("welcome"):
            for _seq, message in sorted(phone.unacked.values(), key=lambda sent: sent[0]):
                self._place(i, phone, message, resend=True)

    @precondition(lambda self: self.driver.phones)
    @rule(index=phone_index)
    def a_phone_goes_offline(self, index: int) -> None:
        picked = self._pick(index)
        if picked and not picked[1].http:
            self.driver.offline(picked[1])
            self.notices.pop(picked[0], None)

    @precondition(lambda self: self.driver.phones)
    @rule(index=phone_index, slider=sliders, value=values, kind=st.sampled_from(["move", "set", "abstain", "clear"]))
    def a_phone_places(self, index: int, slider: str, value: int, kind: str) -> None:
        picked = self._pick(index) or self._pick(index, connected=False)
        if picked is None or picked[1].token is None:
            return
        i, phone = picked
        message = self._message(phone, kind, slider, value)
        if not self._connected(phone):
            if "seq" in message:  # offline: the page keeps it and sends it after the next welcome
                phone.unacked[slider] = (message["seq"], message)
            return
        self._place(i, phone, message)

    def _message(self, phone: Phone, kind: str, slider: str, value: int) -> dict[str, Any]:
        if kind == "move":
            phone.knob[slider] = value
            return {"type": "move", "slider": slider, "value": value}
        if kind == "set":
            phone.knob[slider] = value
            return {"type": "set", "slider": slider, "value": value, "seq": phone.next_seq()}
        if kind == "abstain":
            return {"type": "abstain", "slider": slider, "seq": phone.next_seq()}
        if hasattr(protocol, "Clear"):
            return {"type": "clear", "slider": slider, "seq": phone.next_seq()}
        # Before there was a message for it, the page took "geen mening" back by sending where its thumb stood.
        return {
            "type": "set",
            "slider": slider,
            "value": phone.knob.get(slider, 50),
            "seq": phone.next_seq(),
            "clear": True,
        }

    def _place(self, i: int, phone: Phone, message: dict[str, Any], *, resend: bool = False) -> None:
        clear = message.get("clear", False) or message["type"] == "clear"
        reply = self.driver.send(phone, message, resend=resend)
        value = None if clear else ABSTAIN if message["type"] == "abstain" else message.get("value")
        outcome = self.model.place(self.who[i], message["slider"], value, commit=message["type"] != "move")
        errors = reply.of("error")
        if outcome.allowed:
            assert not errors, f"phone {i}: {message} refused with {errors}; the model allows it"
            if "seq" in message:
                assert reply.of("ack"), f"phone {i}: {message} not acknowledged: {reply}"
        else:
            assert not reply.of("ack"), f"phone {i}: {message} acknowledged; the model refuses it ({outcome})"
            if message["type"] == "move" and i in self.unaware and not errors and reply.close is None:
                # A move is live only and checked against the process's copy, which missed the close by cron:
                # nothing is stored and a closed session shows committed rows only (docs/reliability.md).
                return
            codes = {e["code"] for e in errors} | ({"session_closed"} if reply.close == 4404 else set())
            # A move is checked against the process's copy of the session (docs/architecture.md), and so is
            # anything from a phone whose copy missed a close by cron: any refusal will do.
            reasons = codes if message["type"] == "move" or i in self.unaware else outcome.reasons
            assert codes & reasons, f"phone {i}: {message} answered {reply}; the model says {outcome}"
            phone.unacked.pop(message["slider"], None)  # refused: the page shows it and stops resending
        if reply.close is not None:
            self.unaware.discard(i)

    @rule(count=st.integers(1, 4), http=st.booleans())
    def a_few_phones_join(self, count: int, http: bool) -> None:
        for _ in range(count):
            self.a_phone_joins(http=http, qr=None)

    @precondition(lambda self: self.driver.phones)
    @rule(room=st.lists(values, min_size=5, max_size=5), kind=st.sampled_from(["set", "move"]))
    def the_room_places_what_is_open(self, room: list[int], kind: str) -> None:
        """Every connected phone places every slider open to it, as a room does once the facilitator opens
        them (without this, random steps seldom reach a reveal with answers to check)."""
        for i, phone in enumerate(self.driver.phones):
            if not self._connected(phone) or i not in self.who:
                continue
            for n, key in enumerate(SLIDERS):
                if self.model.may_place(self.who[i], key).allowed:
                    value = (room[n] + 7 * i) % 101
                    self._place(i, phone, self._message(phone, kind, key, value))

    @precondition(lambda self: self.driver.phones)
    @rule(index=phone_index, name=st.sampled_from(GROUP_NAMES))
    def a_phone_chooses_a_group(self, index: int, name: str) -> None:
        picked = self._pick(index)
        if picked is None:
            return
        i, phone = picked
        group = self.driver.group_id(name)
        reply = self.driver.send(phone, {"type": "group", "group": group or 999999})
        outcome = self.model.choose_group(self.who[i], name) if group else self.model.choose_group(self.who[i], "?")
        if outcome.allowed:
            assert reply.of("state"), f"phone {i}: choosing {name} answered {reply}"
            self.fresh.add(i)
        else:
            codes = {e["code"] for e in reply.of("error")} | ({"session_closed"} if reply.close == 4404 else set())
            reasons = codes if i in self.unaware else outcome.reasons  # its copy missed a close by cron
            assert codes & reasons, f"phone {i}: choosing {name} answered {reply}; the model says {outcome}"

    # Invariants ------------------------------------------------------------------------------------

    @invariant()
    def everything_shown_is_the_models(self) -> None:
        if not hasattr(self, "driver"):
            return
        try:
            self._check_session()
            self._check_views()
            self._check_results()
            self._check_phones()
        finally:
            self.fresh, self.resent = set(), set()
            self.heard = [p.last for p in self.driver.phones]

    def _check_session(self) -> None:
        from workshop.models import Session

        s, m = Session.objects.get(pk=self.driver.session.pk), self.model
        seen = (
            s.status,
            s.round,
            s.results,
            s.profile_revealed,
            s.profile_to_phones,
            s.room_locked,
            s.max_participants,
        )
        wanted = (m.status, m.round, m.results, m.revealed, m.to_phones, m.room_locked, m.cap)
        assert seen == wanted, f"session (status, round, results, revealed, to phones, locked, cap) {seen} != {wanted}"
        names = list(s.groups.order_by("order", "pk").values_list("name", flat=True))
        assert names == m.group_names(), f"groups {names} != {m.group_names()}"
        assert (s.timer_ends_at is not None) == m.timer, f"timer {s.timer_ends_at} != {m.timer}"

    def _check_views(self) -> None:
        m, views = self.model, self.driver.views()
        panel, screen, screen_context = views["panel"], views["screen"], views["screen_context"]
        for row, message in zip(panel["sliders"], screen["sliders"], strict=True):
            key = row["slider"].key
            want = m.summary(m.round, key)
            got = row["summary"]
            assert (got.n, got.median, got.q1, got.q3) == (want.n, want.median, want.q1, want.q3), (
                f"panel {key}: {got} != {want}"
            )
            assert row["abstained"] == want.abstained, f"panel {key} abstained {row['abstained']} != {want.abstained}"
            assert row["open"] == m.slider_open(key), (
                f"panel {key} open {row['open']}, the model says {m.slider_open(key)}"
            )
            if m.results_visible(key):
                got_screen = (message["n"], message["median"], message["q1"], message["q3"])
                assert got_screen == (want.n, want.median, want.q1, want.q3), f"screen {key}: {got_screen} != {want}"
            else:
                assert set(message) <= {"key", "n", "abstained", "open"}, f"screen shows hidden {key}: {message}"
            assert message["open"] == m.slider_open(key), f"screen {key} open {message['open']} != {m.slider_open(key)}"
        best = m.screen_best()  # the control panel shows the profile the screen shows
        got_best = panel["best_profile"].key if panel["best_profile"] else None
        assert got_best == best, f"panel profile {got_best} != {best}"
        names = m.group_names()
        assert [g["group"].name for g in panel["groups"]] == names
        for g, sg in zip(panel["groups"], screen_context["groups"], strict=True):
            name = g["group"].name
            for (slider, got), (_s, got_screen) in zip(g["cells"], sg["cells"], strict=True):
                want = m.summary(m.round, slider.key, name)
                assert (got.n, got.median, got.q1, got.q3) == (want.n, want.median, want.q1, want.q3), (
                    f"panel {name} {slider.key}"
                )
                if not m.results_visible(slider.key):
                    assert got_screen.median is None, f"screen shows {name}'s hidden {slider.key}"
            group_best = g["best"].key if g["best"] else None
            assert group_best == m.best(m.round, name), f"panel {name} profile {group_best} != {m.best(m.round, name)}"
            if not m.revealed:
                assert sg["best"] is None, f"screen shows {name}'s profile before the reveal"
        if m.revealed:
            assert screen["best"] == best, f"screen profile {screen['best']} != {best}"
        else:
            assert not screen["profiles"] and screen["best"] is None and screen.get("best_before") is None, (
                "screen: profile before the reveal"
            )
            assert not screen_context["profile_rows"] and screen_context["best_profile"] is None
            leaked = [n for n in PROFILE_NAMES if n in screen["html"]]
            assert not leaked, f"screen html names {leaked} before the reveal"
        hidden = {k for k in SLIDERS if not m.results_visible(k)}
        leaks = screen_leaks(screen, hidden, m.revealed)
        assert not leaks, f"the screen's frame carries what the room may not see: {leaks}"
        for g in screen["groups"]:
            assert m.revealed or g["best"] is None, f"screen message: group profile before the reveal {g}"
            for key, cell in g["sliders"].items():
                assert m.results_visible(key) or set(cell) == {"n"}, f"screen message: hidden {key} of a group {cell}"

    def _check_results(self) -> None:
        m = self.model
        # Downloaded as the facilitator does once it is closed; built by the view's function otherwise.
        data = self.driver.results(download=not m.is_open and not self.downloaded)
        self.downloaded = not m.is_open
        assert len(data["participants"]) == len(m.participants)
        for r in data["rounds"]:
            for s in r["sliders"]:
                want = m.summary(r["round"], s["key"], committed=True)
                got = (s["n"], s["median"], s["q1"], s["q3"], s["abstained"])
                # docs/results-format.md: the JSON's statistics are rounded to one decimal.
                want = replace(want, median=one_decimal(want.median), q1=one_decimal(want.q1), q3=one_decimal(want.q3))
                assert got == (want.n, want.median, want.q1, want.q3, want.abstained), (
                    f"results round {r['round']} {s['key']}: {got} != {want}"
                )
                assert s.get("note", "") == m.notes.get((s["key"], r["round"]), ""), f"note {s['key']} {r['round']}"
            best = r["profile"]["key"] if r["profile"] else None
            assert best == m.best(r["round"], committed=True), f"results round {r['round']} profile {best}"
        stored = {
            (f"P{n + 1}", round, key): (None if v == ABSTAIN else v)
            for n, p in enumerate(m.participants)
            for (round, key), v in p.stored.items()
        }
        got = {(p["participant"], p["round"], p["slider"]): p["value"] for p in data["positions"]}
        assert got == stored, f"results positions {sorted(got.items())} != {sorted(stored.items())}"

    def _check_phones(self) -> None:
        m = self.model
        for i, phone in enumerate(self.driver.phones):
            if i < len(self.heard) and phone.last is not self.heard[i]:
                self.fresh.add(i)
                self.unaware.discard(i)  # told the state at last
            if phone.last is None or i in self.unaware:
                continue
            listening = i in self.fresh or (phone.conversation is not None and not phone.http)
            if not listening:
                continue
            state = phone.last
            where = f"phone {i} ({'http' if phone.http else 'socket'})"
            assert state["session"]["status"] == m.status, f"{where} status {state['session']['status']} != {m.status}"
            assert state["session"]["round"] == m.round, f"{where} round"
            assert state["session"].get("stage", m.stage) == m.stage, f"{where} stage {state['session']} != {m.stage}"
            reasons = {s["key"]: s.get("reason") for s in state["sliders"]}
            if any("reason" in s for s in state["sliders"]):
                wanted_reasons = {k: m.why_not(self.who[i], k) for k in SLIDERS}
                assert reasons == wanted_reasons, f"{where} reasons {reasons} != {wanted_reasons}"
            opened = {s["key"]: s["open"] for s in state["sliders"]}
            wanted = {k: m.may_place(self.who[i], k).allowed for k in SLIDERS}  # for this phone: its group too
            assert opened == wanted, f"{where} open sliders {opened} != {wanted}"
            group = (
                self.driver.group_id(m.participants[self.who[i]].group) if m.participants[self.who[i]].group else None
            )
            assert state["group"] == group, f"{where} group {state['group']} != {group}"
            timer = state["timer"]
            assert (timer is not None) == m.timer, f"{where} timer {timer}, the model says {m.timer}"
            if timer is not None:
                expired = timer.get("expired", timer["remaining_ms"] == 0)
                assert timer["locks"] == m.timer_locks and expired == m.timer_expired, f"{where} timer {timer}"
            shown = m.to_phones or not m.is_open
            assert (state["reveal"] is not None) == shown, f"{where} reveal {state['reveal']}, the model says {shown}"
            if i not in self.fresh or i in self.resent:
                continue  # a welcome before values sent again was compared when it came (_replayed)
            positions = m.phone_positions(self.who[i], m.round)
            assert state["positions"] == positions, f"{where} positions {state['positions']} != {positions}"
            round, keys = self.notices.get(i, (m.round, set()))
            notice = {k for k in keys if round == m.round and m.reset_notice_stands(self.who[i], k)}
            self.notices[i] = (m.round, notice)
            assert set(state.get("reset", [])) == notice, f"{where} reset notice {state.get('reset')} != {notice}"
            if shown:
                want = m.public_result(committed=not m.is_open)
                got = {
                    r: {"medians": v["medians"], "best": v["profile"] and v["profile"]["key"]}
                    for r, v in state["reveal"]["rounds"].items()
                }
                assert got == want, f"{where} reveal {got} != {want}"


def run_model(facilitator: Any, exercise: Any, *, examples: int, steps: int, derandomize: bool) -> None:
    """`derandomize`: the same examples every run (the fast lane, so that a red build reproduces as it is);
    otherwise new ones each run, and a failure prints the seed to rerun it (`--hypothesis-seed`)."""
    SessionMachine.facilitator, SessionMachine.exercise = facilitator, exercise
    run_state_machine_as_test(
        SessionMachine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            derandomize=derandomize,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            print_blob=True,
        ),
    )


@pytest.fixture
def embedded(settings):
    """The embedded default: the in-memory channel layer and live store, as one process runs it."""
    settings.REDIS_URL = None
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def size(name: str, default: int) -> int:
    return int(os.environ.get(f"SESSION_MODEL_{name}", default))


def test_a_workshop_follows_the_model_in_every_view(embedded, fenna, exercise):
    run_model(fenna, exercise, examples=size("EXAMPLES", 15), steps=size("STEPS", 40), derandomize=True)


@pytest.mark.slow
def test_two_hundred_workshops_of_forty_steps_follow_the_model(embedded, fenna, exercise, figure):
    started = time.perf_counter()
    examples, steps = max(200, size("EXAMPLES", 200)), max(40, size("STEPS", 40))
    # Derandomized, so that CI runs the same 200 workshops every time; SESSION_MODEL_SEED=random explores anew.
    fixed = os.environ.get("SESSION_MODEL_SEED") != "random"
    run_model(fenna, exercise, examples=examples, steps=steps, derandomize=fixed)
    figure(f"session model: {examples} examples of {steps} steps in {time.perf_counter() - started:.0f} s")


def _control(action: str, form: dict[str, Any], told: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "facilitator_control", {"control": (action, form, told)}


JOIN = ("a_phone_joins", {"http": False, "qr": None})
START = _control("start", {"confirm": ""}, {})
# The shrunk examples that failed before the state machine (/work/notes/model-failures-before.md), kept as
# fixed examples: each defect of issue 21, replayed step by step with every invariant checked in between.
FOUND_BEFORE = {
    "group_add after close": [("facilitator_closes", {"now": 0}), _control("group_add", {"name": "A"}, {"name": "A"})],
    "note after close": [
        ("facilitator_closes", {"now": 0}),
        _control(
            "note", {"slider": "sturing", "round": "1", "text": "x"}, {"slider": "sturing", "round": 1, "text": "x"}
        ),
    ],
    "set after idle closing from cron": [
        JOIN,
        START,
        ("idle_session_is_closed", {"same_process": False, "now": 0}),
        ("a_phone_places", {"index": 0, "slider": "sturing", "value": 70, "kind": "set"}),
    ],
    "timer below the limit": [_control("timer", {"minutes": "0.20", "lock": "on"}, {"seconds": 12, "lock": True})],
    "timer expiry reaches the phones": [
        JOIN,
        START,
        _control("timer", {"minutes": "1.00", "lock": "on"}, {"seconds": 60, "lock": True}),
        ("time_runs_out", {}),
    ],
    "geen mening taken back": [
        JOIN,
        START,
        ("a_phone_places", {"index": 0, "slider": "sturing", "value": 0, "kind": "abstain"}),
        ("a_phone_places", {"index": 0, "slider": "sturing", "value": 0, "kind": "clear"}),
    ],
    # Not found by the model before, as its screen check read field by field; its whole-frame search fails on
    # e192220 with ".rounds.1.medians.sturing" (the second redaction of `rounds`).
    "medians on the screen with the profile revealed and the results hidden": [
        JOIN,
        START,
        ("a_phone_places", {"index": 0, "slider": "sturing", "value": 80, "kind": "set"}),
        _control("discussion", {"confirm": ""}, {}),
        _control("reveal", {"on": "1"}, {"on": True}),
    ],
    "reopening after the reveal": [
        JOIN,
        START,
        ("a_phone_places", {"index": 0, "slider": "sturing", "value": 80, "kind": "set"}),
        _control("discussion", {"confirm": ""}, {}),
        _control("reveal", {"on": "1"}, {"on": True}),
        START,
    ],
}


# Found by the model on the state machine, and fixed beside it (reported to the lead).
FOUND_BEFORE |= {
    "a join after idle closing from cron": [JOIN, ("idle_session_is_closed", {"same_process": False, "now": 0}), JOIN],
    "a phone that sends nothing hears of a close by cron": [
        JOIN,
        ("idle_session_is_closed", {"same_process": False, "now": 0}),
        ("the_process_looks_for_sessions_closed_elsewhere", {}),
    ],
    "the final result is what was committed": [
        JOIN,
        START,
        ("a_phone_places", {"index": 0, "slider": "regie", "value": 73, "kind": "move"}),
        ("facilitator_closes", {"now": 0}),
    ],
}


# The reset notice, the server's since this issue (docs/protocol.md, `reset`): defects re-created on the state
# machine (a notice that outlives a new answer, the time or the session) fail these, and the 200 examples.
FOUND_BEFORE |= {
    "the reset notice goes once placed again": [
        JOIN,
        START,
        ("a_phone_places", {"index": 0, "slider": "sturing", "value": 40, "kind": "set"}),
        _control("reset", {"slider": "sturing", "confirm": "yes"}, {"slider": "sturing"}),
        ("a_phone_places", {"index": 0, "slider": "sturing", "value": 60, "kind": "set"}),
        _control("cap", {"cap": "5"}, {"cap": 5}),
    ],
    "the reset notice goes when time is up": [
        JOIN,
        START,
        _control("timer", {"minutes": "1.00", "lock": "on"}, {"seconds": 60, "lock": True}),
        ("a_phone_places", {"index": 0, "slider": "aanpak", "value": 10, "kind": "abstain"}),
        _control("reset", {"slider": "all", "confirm": "yes"}, {"slider": None}),
        ("time_runs_out", {}),
    ],
    # The CI run of 2270c0f: a welcome compared with positions that included the values the page resent after it.
    "a welcome precedes the values resent after it": [
        JOIN,
        START,
        ("a_phone_goes_offline", {"index": 0}),
        ("a_phone_places", {"index": 0, "slider": "regie", "value": 46, "kind": "set"}),
        ("a_phone_reloads_or_comes_back", {"index": 0}),
    ],
}


@pytest.mark.parametrize("name", list(FOUND_BEFORE))
def test_what_the_model_found_before_stays_fixed(embedded, fenna, exercise, name):
    SessionMachine.facilitator, SessionMachine.exercise = fenna, exercise
    machine = SessionMachine()
    machine.open_a_session()
    try:
        machine.everything_shown_is_the_models()
        for step, arguments in FOUND_BEFORE[name]:
            getattr(machine, step)(**arguments)
            machine.everything_shown_is_the_models()
    finally:
        machine.teardown()
