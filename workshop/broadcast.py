"""The one way anything reaches a socket: events sent to a session's channel-layer groups.

Two groups per session: its dashboards (control panel and screen) and its
phones. Dashboards join theirs on connect; each process's relay (relay.py)
joins the phones group for all its phones of the session. Everything else sends
through here, after the database transaction that caused the event has committed.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def dashboard_group(code: str) -> str:
    return f"dash.{code}"


def phones_group(code: str) -> str:
    return f"phones.{code}"


def session_changed(
    *, code: str, state: dict[str, Any], result: dict[str, Any] | None, cleared: dict[str, Any] | None = None
) -> None:
    """From sync code: the session's controls changed; every dashboard and phone applies `state`.

    `result` is the room's public result (medians and profile per round), sent
    only once it may reach the phones; it is computed once here, not per socket.
    `cleared`: after a reset, whose positions it took away (each phone finds its own).
    """
    event = {
        "type": "session.changed",
        "code": code,
        "state": state,
        "result": result,
        "cleared": cleared,
    }
    layer = get_channel_layer()
    async_to_sync(layer.group_send)(dashboard_group(code), event)
    async_to_sync(layer.group_send)(phones_group(code), event)


async def live_changed(code: str) -> None:
    """Positions or presence changed: the session's dashboards redraw (each coalesces its own updates)."""
    await get_channel_layer().group_send(dashboard_group(code), {"type": "live.changed"})


def access_revoked(*, user_id: int, login: str | None = None) -> None:
    """From sync code: a user logged out (`login`: that login session's key) or their rights changed;
    their dashboard sockets check again whether they may stay."""
    async_to_sync(get_channel_layer().group_send)(user_group(user_id), {"type": "access.revoked", "login": login})


def user_group(user_id: int) -> str:
    return f"user.{user_id}"
