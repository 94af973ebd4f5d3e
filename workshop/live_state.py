"""A session's live state, for sync views and async sockets alike: the one way to read, refill or
rebuild the live store's copy of a session.

The live store may have lost a session (a restart of the embedded process, a
flushed Redis): it is then refilled from what was committed before anything
reads or adds to it (`snapshot`, `ensure_seeded`). After a facilitator's reset
the store's copy is wrong, not missing: `rebuild` replaces it with what the
database holds now. Each comes as a sync function (views, controls) and an
async one (sockets), prefixed `a`.
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from workshop.live import Snapshot
from workshop.models import Session
from workshop.runtime import runtime
from workshop.session_info import Members, Rows, SessionInfo, committed

_acommitted = database_sync_to_async(committed)


def _session(of: Session | SessionInfo) -> Session:
    return of.session if isinstance(of, SessionInfo) else of


async def _seed(code: str, members: Members, positions: Rows) -> None:
    await runtime().store.seed(code, members=members, positions=positions)


async def _seeded_snapshot(code: str, members: Members, positions: Rows) -> Snapshot:
    await _seed(code, members, positions)
    return await runtime().store.snapshot(code)


async def _replace(code: str, members: Members, positions: Rows) -> None:
    live = runtime()
    # A move batched before the reset must not land after it.
    live.outbox.discard(code)
    await live.store.forget(code)
    await live.store.seed(code, members=members, positions=positions)


# Snapshot ------------------------------------------------------------------


async def asnapshot(info: SessionInfo) -> Snapshot:
    """The session's live state now; an empty store is refilled first."""
    snapshot = await runtime().store.snapshot(info.code)
    if snapshot.seeded:
        return snapshot
    return await _seeded_snapshot(info.code, *await _acommitted(info.session.pk))


def snapshot(info: SessionInfo) -> Snapshot:
    """For sync code (views). The database is read in the request's own thread; only the store hops loops."""
    found = async_to_sync(runtime().store.snapshot)(info.code)
    if found.seeded:
        return found
    return async_to_sync(_seeded_snapshot)(info.code, *committed(info.session.pk))


# Before adding to it ---------------------------------------------------------


async def aensure_seeded(info: SessionInfo) -> None:
    """Refill an empty store before a phone's values are added to it (one cheap check when it is not)."""
    if not await runtime().store.is_seeded(info.code):
        await _seed(info.code, *await _acommitted(info.session.pk))


def ensure_seeded(info: SessionInfo) -> None:
    """For sync code: as `aensure_seeded`."""
    if not async_to_sync(runtime().store.is_seeded)(info.code):
        async_to_sync(_seed)(info.code, *committed(info.session.pk))


# After a reset -------------------------------------------------------------------


def rebuild(of: Session | SessionInfo) -> None:
    """The store's copy of the session replaced by what the database holds now (after a reset, once it
    committed), before any phone or dashboard reads it again."""
    session = _session(of)
    async_to_sync(_replace)(session.code, *committed(session.pk))


async def arebuild(of: Session | SessionInfo) -> None:
    """For async code: as `rebuild`."""
    session = _session(of)
    await _replace(session.code, *await _acommitted(session.pk))
