"""Parsing and validating what phones and dashboards send. Pure Python, no Django.

Every inbound frame becomes either a typed message or a ProtocolError that the
consumer turns into an `error` reply; nothing here touches state.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass

from workshop.stats import MAX_VALUE, MIN_VALUE

MAX_FRAME_CHARS = 4096
# A phone sends at most ~10 moves a second plus a set per release: this leaves room for bursts.
RATE_PER_SECOND = 20.0
RATE_BURST = 40.0
MAX_TOKEN_CHARS = 64
SEQ_MAX = 2**53  # still exact in a JavaScript number


class ProtocolError(Exception):
    def __init__(self, code: str, message: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.seq = seq

    def as_reply(self) -> dict[str, object]:
        reply: dict[str, object] = {
            "type": "error",
            "code": self.code,
            "message": self.message,
        }
        if self.seq is not None:
            reply["seq"] = self.seq
        return reply


@dataclass(frozen=True, slots=True)
class Hello:
    token: str | None
    group: int | None = None


@dataclass(frozen=True, slots=True)
class Move:
    slider: str
    value: int


@dataclass(frozen=True, slots=True)
class Set:
    slider: str
    value: int
    seq: int


@dataclass(frozen=True, slots=True)
class Abstain:
    """ "Geen mening / weet ik niet" on one slider: counted apart, left out of the statistics."""

    slider: str
    seq: int


@dataclass(frozen=True, slots=True)
class Clear:
    """Take back a placed value or "geen mening": the slider is "not placed yet" again, counted nowhere."""

    slider: str
    seq: int


@dataclass(frozen=True, slots=True)
class ChooseGroup:
    group: int


@dataclass(frozen=True, slots=True)
class Ping:
    pass


Message = Hello | Move | Set | Abstain | Clear | ChooseGroup | Ping


@dataclass(frozen=True, slots=True)
class Seen:
    """A dashboard has shown an aggregate and can take the next one."""


# The fields each message type may carry besides "type".
FIELDS: dict[str, frozenset[str]] = {
    "hello": frozenset({"token", "group"}),
    "group": frozenset({"group"}),
    "ping": frozenset(),
    "move": frozenset({"slider", "value"}),
    "set": frozenset({"slider", "value", "seq"}),
    "abstain": frozenset({"slider", "seq"}),
    "clear": frozenset({"slider", "seq"}),
}
_ALLOWED = {kind: fields | {"type"} for kind, fields in FIELDS.items()}


def parse(text: str | None, *, sliders: Collection[str]) -> Message:
    data = _decode(text)
    seq = data.get("seq")
    seq = seq if _is_int(seq) and 0 <= seq <= SEQ_MAX else None
    kind = data.get("type")
    if isinstance(kind, str) and kind in FIELDS and not data.keys() <= _ALLOWED[kind]:
        extra = sorted(str(name)[:40] for name in data.keys() - _ALLOWED[kind])
        if extra:
            # Strict on purpose: a field we do not know (another phone's token, say) is refused, not ignored.
            raise ProtocolError("unknown_field", f"A {kind} message has no field {extra[0]!r}.", seq)
    if kind == "hello":
        group = data.get("group")
        if group is not None and not (_is_int(group) and 0 < group <= SEQ_MAX):
            raise ProtocolError("unknown_group", "group must be null or the id of a group of this session.")
        return Hello(token=_token(data), group=group)
    if kind == "group":
        group = data.get("group")
        if not (_is_int(group) and 0 < group <= SEQ_MAX):
            raise ProtocolError("unknown_group", "group must be the id of a group of this session.")
        return ChooseGroup(group=group)
    if kind == "ping":
        return Ping()
    if kind == "move":
        return Move(slider=_slider(data, sliders, seq), value=_value(data, seq))
    if kind == "set":
        slider = _slider(data, sliders, seq)
        value = _value(data, seq)
        return Set(slider=slider, value=value, seq=_seq(data, seq))
    if kind == "abstain":
        return Abstain(slider=_slider(data, sliders, seq), seq=_seq(data, seq))
    if kind == "clear":
        return Clear(slider=_slider(data, sliders, seq), seq=_seq(data, seq))
    if kind is None:
        raise ProtocolError("missing_field", "The message needs a type.", seq)
    raise ProtocolError("unknown_type", "Unknown message type.", seq)


def parse_dashboard(text: str | None) -> Seen:
    """What a dashboard may send: only that it has shown an aggregate."""
    data = _decode(text)
    if data.get("type") == "seen":
        return Seen()
    raise ProtocolError("read_only", 'A dashboard only confirms aggregates with {"type": "seen"}.')


def _decode(text: str | None) -> dict:
    if text is None:
        raise ProtocolError("binary_not_supported", "Send text frames with JSON, not binary frames.")
    if len(text) > MAX_FRAME_CHARS:
        raise ProtocolError("too_large", f"A message may be at most {MAX_FRAME_CHARS} characters.")
    try:
        data = _DECODER.decode(text)
    except (ValueError, RecursionError):
        raise ProtocolError("invalid_json", "The message is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ProtocolError("invalid_message", "The message must be a JSON object.")
    return data


def _seq(data: dict, seq: int | None) -> int:
    if "seq" not in data:
        raise ProtocolError("missing_field", "This message needs a seq.")
    if seq is None:
        raise ProtocolError("invalid_seq", f"seq must be an integer from 0 to {SEQ_MAX}.")
    return seq


def _reject_constant(name: str) -> None:
    # json.loads accepts NaN and Infinity by default; they are not JSON.
    raise ValueError(name)


# One decoder for every frame: json.loads with an option builds a new one per call, a cost on the hottest path.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _is_int(value: object) -> bool:
    # bool is a subclass of int; true is not a position.
    return isinstance(value, int) and not isinstance(value, bool)


def _token(data: dict) -> str | None:
    if "token" not in data:
        raise ProtocolError(
            "missing_field",
            "A hello message needs a token (null for a new participant).",
        )
    token = data["token"]
    if token is None:
        return None
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise ProtocolError("invalid_token", "token must be null or the string the server gave you.")
    return token


def _slider(data: dict, sliders: Collection[str], seq: int | None) -> str:
    if "slider" not in data:
        raise ProtocolError("missing_field", "The message needs a slider.", seq)
    slider = data["slider"]
    if not isinstance(slider, str) or slider not in sliders:
        raise ProtocolError("unknown_slider", "There is no slider with that key in this session.", seq)
    return slider


def _value(data: dict, seq: int | None) -> int:
    if "value" not in data:
        raise ProtocolError("missing_field", "The message needs a value.", seq)
    value = data["value"]
    if not _is_int(value) or not MIN_VALUE <= value <= MAX_VALUE:
        raise ProtocolError(
            "invalid_value",
            f"value must be a whole number from {MIN_VALUE} to {MAX_VALUE}.",
            seq,
        )
    return value


@dataclass
class TokenBucket:
    """Allows `rate` messages a second on average and `burst` at once."""

    rate: float = RATE_PER_SECOND
    burst: float = RATE_BURST
    tokens: float = RATE_BURST
    stamp: float | None = None

    def take(self, now: float) -> bool:
        if self.stamp is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False
