"""Hostile input: the parser never fails but with a ProtocolError, and a socket survives all of it."""

import json
import logging
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.phones import SLIDERS
from tests.sockets import phone
from workshop import protocol
from workshop.models import Participant, Position
from workshop.runtime import runtime

PER_SOCKET = 15
PARSER_EXAMPLES = 1500
FIELDS = ["type", "slider", "value", "seq", "token", "group"]
TYPES = ["hello", "move", "set", "abstain", "group", "ping", "dance", "", None]
nasty = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from([*SLIDERS, "50", "1e309", "NaN", "\u0000", "\ud800"]),
)
json_values = st.recursive(
    nasty,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
messages = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES)},
    optional={name: json_values for name in FIELDS[1:]} | {"extra": json_values},
)


def dumps(value) -> str:
    return json.dumps(value, allow_nan=True)


@pytest.mark.slow  # 1,500 inputs take ten seconds or more
def test_the_parser_only_ever_returns_a_valid_message_or_a_protocol_error(figure):
    tried: list[str] = []

    @settings(max_examples=PARSER_EXAMPLES, suppress_health_check=[HealthCheck.too_slow])
    @given(
        st.one_of(
            messages.map(dumps),
            json_values.map(dumps),
            st.text(max_size=200),
            st.binary(max_size=50).map(lambda b: b.decode("latin-1")),
        )
    )
    def parses(text):
        tried.append(text)
        try:
            message = protocol.parse(text, sliders=SLIDERS)
        except protocol.ProtocolError as error:
            assert error.code and error.message
            return
        if isinstance(message, protocol.Move | protocol.Set):
            assert message.slider in SLIDERS
            assert type(message.value) is int and 0 <= message.value <= 100
        if isinstance(message, protocol.Set | protocol.Abstain):
            assert type(message.seq) is int and 0 <= message.seq <= protocol.SEQ_MAX

    parses()
    figure(f"parser fuzz: {len(tried)} inputs tried, 0 crashes (any other exception fails the test)")
    # Counted here, not in a later test: the claim holds only if the inputs were really tried.
    assert len(tried) >= PARSER_EXAMPLES


def hostile_frames(rng: random.Random, count: int) -> list[str]:
    """Frames that must all be refused: malformed, wrong types, unknown sliders, stale or foreign fields."""
    frames = []
    values = ["50", 50.5, True, None, float("nan"), 1e309, 2**63, -1, 101, [], {}, "", "\u0000"]
    while len(frames) < count:
        kind = rng.choice(["move", "set", "abstain", "group", "hello", "dance", None])
        message = {"type": kind, rng.choice(["slider", "pad", "x"]): rng.choice([*SLIDERS, "nope", 7, None])}
        if kind in ("move", "set"):
            message["slider"] = rng.choice([*SLIDERS, "nope", 3, None])
            message["value"] = rng.choice(values)
        if kind in ("set", "abstain"):
            message["seq"] = rng.choice(["1", -5, 2**60, None, 1.5])
        if kind == "group":
            message["group"] = rng.choice([0, -1, "1", None, 10**9])
        text = rng.choice(
            [
                json.dumps(message, allow_nan=True),
                json.dumps([message]),
                "{" * rng.randint(1, 50),
                "[" * 900 + "]" * 900,
                '{"type": "move", "slider": "regie", "value": NaN}',
                "\udcff".encode("utf-8", "surrogatepass").decode("latin-1"),
            ]
        )
        try:
            protocol.parse(text, sliders=SLIDERS)
        except protocol.ProtocolError:
            frames.append(text)
    return frames


@pytest.mark.django_db(transaction=True)
async def test_a_real_socket_survives_hostile_frames_with_no_state_change(workshop_session, caplog, figure):
    caplog.set_level(logging.WARNING)
    frames = hostile_frames(random.Random(2026), 300)
    before = await runtime().store.snapshot(workshop_session.code)
    replies = crashes = 0
    # Fifteen frames (and their pings) per socket stay within the burst, so every frame is really parsed.
    for start in range(0, len(frames), PER_SOCKET):
        communicator, _ = await phone(workshop_session.code)
        for frame in frames[start : start + PER_SOCKET]:
            await communicator.send_to(text_data=frame)
            await communicator.send_json_to({"type": "ping"})
            while (reply := await communicator.receive_json_from(timeout=5))["type"] != "pong":
                assert reply["type"] == "error"
                replies += 1
        await communicator.disconnect()
    # asyncio's own "Task was destroyed" lines are about earlier tests' event loops, not this socket.
    crashes = sum(1 for record in caplog.records if record.levelno >= logging.ERROR and record.name != "asyncio")
    after = await runtime().store.snapshot(workshop_session.code)
    changed = int(await Position.objects.aexists()) + int(after.counts != before.counts)
    figure(
        f"socket fuzz: {len(frames)} inputs tried, {replies} error replies, {crashes} crashes, {changed} state changes"
    )
    assert replies == len(frames)
    assert crashes == 0 and changed == 0
    assert await Participant.objects.acount() == len(range(0, len(frames), PER_SOCKET))
