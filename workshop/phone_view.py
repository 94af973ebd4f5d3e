"""What a phone shows, as the server decides it: the stage, per slider whether it may be placed and why not,
its own positions, the timer and the revealed result, in the phone's language (docs/protocol.md, `state`)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone, translation

from workshop import live_state, reference_view, result_ticket, workflow
from workshop.aggregates import compute, public_result
from workshop.participation import positions
from workshop.session_info import SessionInfo
from workshop.workflow import Stage


async def revealed_result(*, info: SessionInfo) -> dict[str, Any] | None:
    """The room's result for a phone that joins after the profile went to the phones."""
    if not info.session.profile_to_phones:
        return None
    return public_result(compute(info, await live_state.asnapshot(info)))


async def phone_state(
    *, info: SessionInfo, participant: int, group: int | None, result: dict[str, Any] | None, language: str
) -> dict[str, Any]:
    """Everything a phone shows, in its language, as the server decides it: the stage, per slider whether it
    may be placed and why not, own positions, timer, revealed result."""
    session = info.session
    positions_now = await positions(info=info, participant=participant, round=session.round)
    previous = await positions(info=info, participant=participant, round=1) if session.round == 2 else None
    now = timezone.now()
    state = info.state
    current = workflow.stage(state, now)
    needs_group = bool(info.groups) and group is None
    may_choose = bool(info.groups) and (group is None or not session.groups_locked)
    remaining = session.timer_remaining_ms(now)
    with translation.override(language):
        sliders = []
        for s in info.sliders:
            reason = workflow.slider_access(state, s.key, needs_group=needs_group, now=now)
            sliders.append(
                {
                    "key": s.key,
                    "label": s.label,
                    "left": s.left,
                    "right": s.right,
                    "open": reason is None,
                    "reason": reason,
                }
            )
        reveal = _reveal(info, result)
    timer = None
    if remaining is not None:
        timer = {"remaining_ms": remaining, "locks": session.timer_locks, "expired": workflow.time_is_up(state, now)}
    state_message: dict[str, Any] = {
        "session": {
            "code": session.code,
            "title": session.title,
            "status": session.status,
            "stage": Stage.CLOSED if current in workflow.ENDED else current,
            "round": session.round,
        },
        "sliders": sliders,
        "positions": positions_now,
        "previous": previous,
        "groups": [{"id": g, "name": name} for g, name in info.groups],
        "group": group,
        "may_choose_group": may_choose and current in workflow.LIVE,
        "timer": timer,
        "reveal": reveal,
    }
    if current in workflow.ENDED:
        # This phone's own result PDF, once the server has forgotten which phone was whose.
        own = {session.round: positions_now, **({1: previous} if previous is not None else {})}
        state_message["result_ticket"] = result_ticket.issue(code=session.code, own=own)
    return state_message


def still_cleared(state: dict[str, Any], cleared: set[str]) -> set[str]:
    """The reset notices that stand in a phone's new state: a slider's notice goes once it is placed again
    (a move counts) and, for good, once it cannot be placed (locked, time up, closed). Another round starts
    without any (phone.Conversation)."""
    if not cleared:
        return cleared
    open_now = {s["key"] for s in state["sliders"] if s["open"]}
    placed = {key for key, value in state["positions"].items() if value is not None}
    return {key for key in cleared if key in open_now and key not in placed}


def _reveal(info: SessionInfo, result: dict[str, Any] | None) -> dict[str, Any] | None:
    """The revealed result in the active language, from the language-neutral broadcast."""
    session = info.session
    if result is None or not (session.profile_to_phones or not session.is_open):
        return None
    rounds = {}
    for round, data in result.items():
        profile = info.profile(data["best"]) if data["best"] else None
        rounds[round] = {
            "medians": data["medians"],
            "profile": None
            if profile is None
            else {
                "key": profile.key,
                "name": profile.name,
                "description": profile.description,
                "assignment": profile.assignment,
            },
            "compare": _compare(info, result, round),
        }
    return {"rounds": rounds}


def _compare(info: SessionInfo, result: dict[str, Any], round: str) -> dict[str, Any] | None:
    """The same comparison as the screen's, with the phone's result (the reference the session chose)."""
    data = result[round]
    found = reference_view.comparison(
        info.session.reference_copy,
        round=int(round),
        sliders=info.sliders,
        medians=data["medians"],
        before=result.get("1", {}).get("medians") if round == "2" else None,
        profile=data["best"],
    )
    if found is None:
        return None
    profiles = {p.key: p for p in info.profiles}
    copy = info.session.reference_copy or {}
    return reference_view.phone_data(reference_view.context(copy, found, sliders=info.sliders, profiles=profiles))
