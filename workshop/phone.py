"""One phone's conversation with a session, whatever carries it: a websocket, or plain HTTP when the
venue's network blocks websockets (see fallback.py). Same validation, rate limit, join and acks.

`receive` takes one frame as the phone sent it and answers with what to send
back and, when the conversation must end, the close code (docs/protocol.md).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from workshop import guard, metrics, participation, phone_view, protocol, timers, workflow
from workshop.protocol import ProtocolError
from workshop.runtime import runtime
from workshop.session_info import SessionInfo, ashared_session_info
from workshop.websocket import (
    CLOSE_NOT_FOUND,
    CLOSE_POLICY,
    CLOSE_REFUSED,
    CLOSE_TOO_BIG,
    CLOSE_TOO_MANY,
    UNAVAILABLE,
    service_name,
)

log = logging.getLogger(__name__)

# Refused messages (over the rate) before a flooding phone is cut off.
FLOOD_LIMIT = 200


@dataclass
class Outcome:
    """What to send back, in order, and the close code when the conversation ends."""

    replies: list[dict[str, Any]] = field(default_factory=list)
    close: int | None = None


async def open_session(*, code: str, address: str | None) -> tuple[SessionInfo | None, int | None]:
    """The open session a phone asks for, or the close code it gets instead (the join guard's 4429, or 4404)."""
    info = await ashared_session_info(code=code)
    found = info is not None and info.refusal("join") is None
    if not await guard.alookup_allowed(address, found=found, code=code):
        return None, CLOSE_TOO_MANY
    return (info, None) if found else (None, CLOSE_NOT_FOUND)


NOTHING = Outcome(replies=[])  # the answer to almost every frame (a move): shared, never changed
PLACED = (protocol.Move, protocol.Set, protocol.Abstain, protocol.Clear)
# workflow.slider_access's reasons as the protocol's error codes.
REFUSED = {
    workflow.SESSION_CLOSED: ("session_closed", "This session has closed."),
    workflow.NOT_OPEN: ("slider_locked", "This slider is locked right now."),
    workflow.TIME_UP: ("slider_locked", "Time is up: this slider is locked."),
    workflow.CHOOSE_GROUP: ("group_required", "Choose your group first."),
}


class Conversation:
    def __init__(
        self, info: SessionInfo, *, language: str, name: str, bucket: protocol.TokenBucket | None = None
    ) -> None:
        self.info = info
        self.name = name  # for the log limit: the socket's channel name, or the HTTP phone's
        self.language = language
        self.participant: int | None = None
        self.group: int | None = None
        self.result: dict[str, Any] | None = None
        self.bucket = bucket or protocol.TokenBucket()
        self.refused = 0
        # Sliders whose answer the facilitator cleared while this phone listened, until placed again.
        self.cleared: set[str] = set()
        self.cleared_round = 0
        self.last_touch = 0.0
        self.touch_every = settings.CONNECTED_TTL / 3

    async def receive(self, frame: str | bytes | None) -> Outcome:
        if frame is not None and len(frame) > protocol.MAX_FRAME_CHARS:
            self.warn("frame_too_large", "closed a phone socket: frame too large, session=%s", self.info.code)
            return Outcome(close=CLOSE_TOO_BIG)
        now = asyncio.get_running_loop().time()
        if not self.bucket.take(now):
            self.refused += 1
            if self.refused >= FLOOD_LIMIT:
                self.warn("flooding", "closed a phone socket: sustained flooding, session=%s", self.info.code)
                return Outcome(close=CLOSE_POLICY)
            if self.refused % 20 == 1:
                # Say it now and then, not for every dropped message: replies cost too.
                return Outcome([{"type": "error", "code": "rate_limited", "message": "Too many messages; slow down."}])
            return NOTHING
        text = frame if isinstance(frame, str) else None
        try:
            message = protocol.parse(text, sliders=self.info.slider_keys)
            if type(message) is protocol.Move:
                # The hottest path (ten a second per dragging phone): no coroutine, nothing to send.
                self.check(message)
                participation.record_move(
                    info=self.info, participant=self.participant, slider=message.slider, value=message.value
                )
                if now - self.last_touch > self.touch_every:
                    await self.keep_alive()
                return NOTHING
            return await self.handle(message)
        except ProtocolError as error:
            return Outcome([error.as_reply()])

    def check(self, message: protocol.Message) -> None:
        """What any message after the hello needs: a welcome, and what the transition table allows this phone."""
        seq = getattr(message, "seq", None)
        if self.participant is None:
            raise ProtocolError("hello_required", "Send hello before anything else.", seq)
        if isinstance(message, protocol.Ping):
            return
        info = self.info
        if isinstance(message, protocol.ChooseGroup):
            if info.refusal("group") is not None:
                raise ProtocolError(*REFUSED[workflow.SESSION_CLOSED], seq)
            return
        assert isinstance(message, PLACED)
        # The hot path asks the session's precomputed open set; the reason is worked out only for a refusal.
        if not info.may_place(message.slider) or (self.group is None and info.groups):
            reason = workflow.slider_access(
                info.state, message.slider, needs_group=self.group is None and bool(info.groups), now=timezone.now()
            )
            raise ProtocolError(*REFUSED[reason or workflow.NOT_OPEN], seq)

    async def handle(self, message: protocol.Message) -> Outcome:
        if isinstance(message, protocol.Hello):
            return await self.hello(message)
        self.check(message)
        await self.keep_alive()
        if isinstance(message, protocol.Ping):
            return Outcome([{"type": "pong"}])
        if isinstance(message, protocol.ChooseGroup):
            return await self.choose_group(message.group)
        assert isinstance(message, protocol.Set | protocol.Abstain | protocol.Clear)
        value = message.value if isinstance(message, protocol.Set) else None
        try:
            round = await participation.record_set(
                info=self.info,
                participant=self.participant,
                slider=message.slider,
                value=value,
                seq=message.seq,
                clear=isinstance(message, protocol.Clear),
            )
        except participation.NotPlaced as refused:
            raise ProtocolError(refused.code, refused.reason, message.seq) from None
        except participation.StaleSet:
            raise ProtocolError(
                "stale_seq", "A newer value for this slider is already stored; this one is ignored.", message.seq
            ) from None
        except Exception as error:
            if isinstance(error, UNAVAILABLE):
                metrics.unavailable(error)
                self.warn(
                    "not_stored", "could not store a position in session=%s: %s", self.info.code, service_name(error)
                )
            else:
                log.exception("could not store a position in session=%s", self.info.code)
            raise ProtocolError(
                "not_stored", "Your position was not saved; it is sent again automatically.", message.seq
            ) from None
        return Outcome([{"type": "ack", "seq": message.seq, "round": round}])

    async def hello(self, message: protocol.Hello) -> Outcome:
        if self.participant is not None:
            raise ProtocolError("already_welcomed", "This connection has already said hello.")
        try:
            joined = await participation.join(info=self.info, token=message.token, group=message.group)
        except participation.JoinRefused as refused:
            error = {"type": "error", "code": refused.code, "message": refused.message}
            closes = {"room_locked": CLOSE_REFUSED, "room_full": CLOSE_REFUSED, "session_closed": CLOSE_NOT_FOUND}
            return Outcome([error], close=closes.get(refused.code))
        self.participant, self.group = joined.participant, joined.group
        self.last_touch = asyncio.get_running_loop().time()
        timers.arm(self.info)
        self.result = await phone_view.revealed_result(info=self.info)
        return Outcome([{"type": "welcome", "token": joined.token, **await self.state()}])

    async def resume(self, *, participant: int, group: int | None) -> None:
        """Carry on a welcomed phone's conversation in a new request (HTTP), without joining again."""
        self.participant, self.group = participant, group
        self.result = await phone_view.revealed_result(info=self.info)

    async def choose_group(self, group: int) -> Outcome:
        assert self.participant is not None
        try:
            chosen = await participation.choose_group(info=self.info, participant=self.participant, group=group)
        except participation.JoinRefused as refused:
            raise ProtocolError(refused.code, refused.message) from None
        if not chosen:
            raise ProtocolError("groups_locked", "The facilitator has locked the groups.")
        self.group = group
        return Outcome([{"type": "state", **await self.state()}])

    async def state(self) -> dict[str, Any]:
        assert self.participant is not None
        state = await phone_view.phone_state(
            info=self.info, participant=self.participant, group=self.group, result=self.result, language=self.language
        )
        if state["session"]["round"] != self.cleared_round:
            self.cleared = set()
        self.cleared = phone_view.still_cleared(state, self.cleared)
        state["reset"] = sorted(self.cleared)
        return state

    def heard_of_reset(self, cleared: dict[str, Any] | None) -> None:
        """A reset took this participant's answers away: the phone says so per slider (phone_view.still_cleared
        decides for how long)."""
        if not cleared or cleared["round"] != self.info.session.round:
            return
        if cleared["round"] != self.cleared_round:
            self.cleared, self.cleared_round = set(), cleared["round"]
        self.cleared |= {key for participant, key in cleared["positions"] if participant == self.participant}

    async def keep_alive(self) -> None:
        # Refresh "connected now" a few times per TTL, not on every message.
        assert self.participant is not None
        now = asyncio.get_running_loop().time()
        if now - self.last_touch > self.touch_every:
            self.last_touch = now
            await participation.still_connected(info=self.info, participant=self.participant)

    async def session_changed(self, event: dict[str, Any]) -> Outcome:
        """The facilitator changed something: the phone gets its new state; a closed session ends the talk."""
        self.info = event.get("info") or self.info.with_state(event["state"])
        self.result = event.get("result")
        if self.group is not None and not self.info.has_group(self.group):
            self.group = None  # its group was removed: the phone chooses again, its positions stay
        timers.arm(self.info)
        self.heard_of_reset(event.get("cleared"))
        replies = [{"type": "state", **await self.state()}] if self.participant is not None else []
        return Outcome(replies, close=None if self.info.session.is_open else CLOSE_NOT_FOUND)

    def warn(self, reason: str, message: str, *args: object) -> None:
        """Once per phone and reason: a flooding phone cannot flood the log."""
        runtime().warnings.warn(log, socket=self.name, reason=reason, message=message, args=args)

    async def leave(self) -> None:
        if self.participant is not None:
            await participation.leave(info=self.info, participant=self.participant)
