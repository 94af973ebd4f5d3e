"""A session's live state now, for sync views and async sockets alike.

The live store may have lost a session (a restart of the embedded process, a
flushed Redis, a reset by the facilitator): it is then refilled from what was
committed before anything reads or adds to it.
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from workshop.live import Snapshot
from workshop.runtime import runtime
from workshop.session_info import SessionInfo, committed

_acommitted = database_sync_to_async(committed)

# Snapshot ------------------------------------------------------------------


async def asnapshot(info: SessionInfo) -> Snapshot:
    """The session's live state now; an empty store (a restart, a flushed Redis, a reset) is refilled first."""
    store = runtime().store
    snapshot = await store.snapshot(info.code)
    if not snapshot.seeded:
        members, positions = await _acommitted(info.session.pk)
        await store.seed(info.code, members=members, positions=positions)
        snapshot = await store.snapshot(info.code)
    return snapshot


def snapshot(info: SessionInfo) -> Snapshot:
    """For sync code (views). The database is read in the request's own thread; only the store hops loops."""
    store = runtime().store
    found = async_to_sync(store.snapshot)(info.code)
    if found.seeded:
        return found
    members, positions = committed(info.session.pk)
    async_to_sync(store.seed)(info.code, members=members, positions=positions)
    return async_to_sync(store.snapshot)(info.code)


async def aensure_seeded(info: SessionInfo) -> None:
    """Refill an empty store before a phone's values are added to it (one cheap check when it is not)."""
    store = runtime().store
    if not await store.is_seeded(info.code):
        members, positions = await _acommitted(info.session.pk)
        await store.seed(info.code, members=members, positions=positions)


def rebuild(info: SessionInfo) -> None:
    """After a reset: the live store refilled from what is left in the database, before any phone or
    dashboard reads it again (moves still waiting in this process's outbox are dropped with it)."""
    live = runtime()
    members, positions = committed(info.session.pk)

    async def refill() -> None:
        live.outbox.discard(info.code)
        await live.store.forget(info.code)
        await live.store.seed(info.code, members=members, positions=positions)

    async_to_sync(refill)()
