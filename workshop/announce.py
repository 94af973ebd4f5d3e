"""Telling a session's sockets its new state, after the change that caused it has committed.

The state goes to every dashboard and phone of the session (broadcast.py); once the profile went to the
phones, or the session closed, the room's public result goes with it, computed once here.
"""

from __future__ import annotations

from typing import Any

from workshop import aggregates, broadcast, live_state
from workshop.models import Session
from workshop.session_info import load_session_info, session_state


def announce(*, session: Session, cleared: dict[str, Any] | None = None) -> None:
    """`cleared`: the positions a reset took away ({"round", "positions": [[participant, slider key]]}), for
    the phones whose answer it was."""
    result = None
    if session.profile_to_phones or session.status == Session.Status.CLOSED:
        info = load_session_info(code=session.code)
        assert info is not None
        # Once closed, the result the phones keep is the session's result: what was committed, as the results,
        # the archive and the phone's own PDF have it (a value still being dragged at closing is not in it).
        closed = session.status == Session.Status.CLOSED
        snapshot = None if closed else live_state.snapshot(info)
        result = aggregates.public_result(
            aggregates.committed_result(info) if snapshot is None else aggregates.compute(info, snapshot)
        )
    broadcast.session_changed(code=session.code, state=session_state(session), result=result, cleared=cleared)


def announce_current(*, code: str) -> None:
    """Read the session as stored and announce it: for a process that found out that what its sockets hold is
    old (a set refused because another process, a command or cron closed the session)."""
    session = Session.objects.filter(code=code).first()
    if session is not None:
        announce(session=session)
