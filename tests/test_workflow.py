"""The transition table (workflow.py) on its own: pure, no database."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import ROOT
from workshop import limits, workflow
from workshop.workflow import RULES, Stage, State

KEYS = ("sturing", "aanpak", "verankering", "regie", "horizon")
NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)


def state(**changes) -> State:
    base = {"status": "positioning", "round": 1, "slider_keys": KEYS, "open_sliders": KEYS}
    return State(**{**base, **changes})


def table_markdown() -> str:
    """The table as docs/architecture.md prints it."""
    stages = list(Stage)
    lines = [
        "| action | by | " + " | ".join(stages) + " | refused with |",
        "| --- | --- | " + " | ".join("---" for _ in stages) + " | --- |",
    ]
    for action, rule in RULES.items():
        cells = ["✓" if s in rule.allowed else "✗" for s in stages]
        reasons = [rule.reason] if isinstance(rule.reason, str) else list(dict.fromkeys(rule.reason.values()))
        if rule.when is not None:
            reasons.append(rule.when(state(round=2, timer_ends_at=None)) or "")
        note = "; ".join(r for r in reasons if r and r != workflow.CLOSED_REASON) or ""
        lines.append(f"| `{action}` | {rule.by} | " + " | ".join(cells) + f" | {note} |")
    return "\n".join(lines)


def test_the_architecture_doc_prints_the_table_as_the_code_has_it():
    assert table_markdown() in (ROOT / "docs" / "architecture.md").read_text(), table_markdown()


def test_every_stage_is_reachable_from_the_stored_fields():
    assert workflow.stage(state(status="lobby", open_sliders=()), NOW) == Stage.LOBBY
    assert workflow.stage(state(), NOW) == Stage.OPEN
    assert workflow.stage(state(open_sliders=()), NOW) == Stage.LOCKED
    assert workflow.stage(state(status="discussion", open_sliders=()), NOW) == Stage.DISCUSSING
    assert workflow.stage(state(status="discussion", profile_revealed=True), NOW) == Stage.REVEALED
    assert workflow.stage(state(status="closed"), NOW) == Stage.CLOSED
    assert workflow.stage(state(status="closed", archived=True), NOW) == Stage.ARCHIVED


def test_a_closed_or_archived_session_refuses_every_write_but_its_research_context():
    for archived in (False, True):
        ended = state(status="closed", open_sliders=(), archived=archived)
        allowed = {action for action in RULES if workflow.refusal(action, ended, NOW) is None}
        assert allowed == {"metadata"}
        for action in ("move", "set", "abstain", "clear", "join", "group"):
            assert workflow.refusal(action, ended, NOW) is not None


def test_a_timer_that_locks_closes_the_sliders_the_moment_it_runs_out():
    running = state(timer_ends_at=NOW + timedelta(seconds=30), timer_locks=True)
    assert workflow.open_sliders(running, NOW) == KEYS
    assert workflow.open_sliders(running, NOW + timedelta(seconds=30)) == ()
    assert workflow.slider_access(running, "regie", needs_group=False, now=NOW + timedelta(seconds=31)) == "time_up"
    assert workflow.stage(running, NOW + timedelta(seconds=31)) == Stage.LOCKED


def test_a_timer_that_does_not_lock_leaves_the_sliders_open():
    running = state(timer_ends_at=NOW, timer_locks=False, timer_expired=True)
    assert workflow.open_sliders(running, NOW) == KEYS
    assert workflow.timer_status(running, NOW) == "expired"


def test_a_slider_that_waits_for_a_group_says_so_and_never_that_it_was_locked():
    assert workflow.slider_access(state(), "regie", needs_group=True, now=NOW) == "choose_group"
    locked = state(open_sliders=("sturing",))
    assert workflow.slider_access(locked, "regie", needs_group=True, now=NOW) == "not_open"


def test_the_reveal_needs_answers_that_stand():
    assert "open the sliders first" in workflow.refusal("reveal", state(status="lobby", open_sliders=()), NOW)
    assert workflow.refusal("reveal", state(), NOW) is None  # and the reveal locks the sliders
    assert workflow.refusal("reveal", state(open_sliders=()), NOW) is None
    assert workflow.refusal("reveal_phones", state(status="discussion", open_sliders=()), NOW) is not None


def test_round_two_starts_once():
    assert workflow.refusal("round2", state(open_sliders=()), NOW) is None
    assert workflow.refusal("round2", state(round=2, open_sliders=()), NOW) == "Round 2 has already started."


def test_the_next_step_walks_a_whole_workshop():
    steps = [
        (state(status="lobby", open_sliders=()), "start"),
        (state(open_sliders=("sturing",)), "step"),
        (state(open_sliders=("horizon",)), "discussion"),
        (state(), "discussion"),
        (state(status="discussion", open_sliders=()), "results"),
        (state(status="discussion", open_sliders=(), results="shown"), "reveal"),
        (state(status="discussion", open_sliders=(), profile_revealed=True), "reveal_phones"),
        (state(status="discussion", open_sliders=(), profile_revealed=True, profile_to_phones=True), "round2"),
        (state(status="discussion", round=2, profile_revealed=True, profile_to_phones=True), "close"),
        (state(status="closed"), None),
    ]
    for current, expected in steps:
        assert workflow.flow(current, NOW).next == expected, current


stages_states = st.builds(
    State,
    status=st.sampled_from(["lobby", "positioning", "discussion", "closed"]),
    round=st.sampled_from([1, 2]),
    slider_keys=st.just(KEYS),
    open_sliders=st.lists(st.sampled_from(KEYS), unique=True).map(tuple),
    results=st.sampled_from(["hidden", "shown", "per_slider"]),
    profile_revealed=st.booleans(),
    profile_to_phones=st.booleans(),
    timer_ends_at=st.one_of(st.none(), st.integers(-60, 60).map(lambda s: NOW + timedelta(seconds=s))),
    timer_locks=st.booleans(),
    timer_expired=st.booleans(),
    archived=st.booleans(),
)


@given(stages_states)
def test_the_next_step_is_always_a_step_the_table_allows(current):
    next_step = workflow.flow(current, NOW).next
    if next_step is not None:
        assert workflow.refusal(next_step, current, NOW) is None


@given(stages_states, st.sampled_from(KEYS), st.booleans())
def test_a_phone_may_place_exactly_where_the_table_lets_it(current, key, needs_group):
    access = workflow.slider_access(current, key, needs_group=needs_group, now=NOW)
    placeable = workflow.refusal("set", current, NOW) is None and key in workflow.open_sliders(current, NOW)
    assert (access is None) == (placeable and not needs_group)


def test_the_architecture_doc_states_the_limits_the_code_enforces():
    text = (ROOT / "docs" / "architecture.md").read_text()
    line = next(line for line in text.split("\n- ") if line.startswith("**Limits**"))
    for figure in (
        f"timer {limits.TIMER_MIN_SECONDS} s \N{EN DASH} {limits.TIMER_MAX_SECONDS // 60} min",
        f"title {limits.TITLE_MAX_CHARS}",
        f"group name {limits.GROUP_NAME_MAX_CHARS}",
        f"{limits.MAX_GROUPS} groups",
        f"notes\n  {limits.NOTE_MAX_CHARS:,} characters",
        f"cap {limits.CAP_MAX:,}",
    ):
        assert figure in line, figure
