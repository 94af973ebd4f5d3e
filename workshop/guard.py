"""Limiting join-code guessing per client address, without keeping addresses.

Only failed attempts (unknown or closed codes) count, so a congress hall's
phones behind one NAT address can all join a valid code. Addresses are kept
only as a salted hash in this process's memory for the window, never logged
or stored.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import deque

WINDOW_SECONDS = 600
MAX_FAILURES = 20

_salt = secrets.token_bytes(16)
_failures: dict[bytes, deque[float]] = {}
_lock = threading.Lock()


def _key(address: str) -> bytes:
    return hashlib.blake2b(address.encode(), key=_salt, digest_size=16).digest()


def _recent(key: bytes, now: float) -> deque[float]:
    times = _failures.setdefault(key, deque())
    while times and times[0] <= now - WINDOW_SECONDS:
        times.popleft()
    return times


def blocked(address: str | None, now: float | None = None) -> bool:
    """Whether this address has guessed wrong too often recently."""
    if not address:
        return False
    now = time.monotonic() if now is None else now
    with _lock:
        return len(_recent(_key(address), now)) >= MAX_FAILURES


def failed(address: str | None, now: float | None = None) -> None:
    """Count one wrong or closed code from this address."""
    if not address:
        return
    now = time.monotonic() if now is None else now
    with _lock:
        _recent(_key(address), now).append(now)
        if len(_failures) > 100_000:
            # Forget the quietest addresses rather than grow without bound.
            for stale in [k for k, v in _failures.items() if not v or v[-1] <= now - WINDOW_SECONDS]:
                del _failures[stale]


def forget_all() -> None:
    with _lock:
        _failures.clear()
