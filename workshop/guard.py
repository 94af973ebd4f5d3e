"""Limiting join-code guessing per client address, without keeping addresses.

Only failed attempts (unknown or closed codes) count, so a congress hall's
phones behind one NAT address can all join a valid code. An address is kept
only as a keyed hash (the key derives from SECRET_KEY) for the window, never
logged or stored in the database. With REDIS_URL the counts live in Redis, so
every daphne process shares one limit; without it, in this process's memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections import deque
from functools import cache

import redis
from django.conf import settings

WINDOW_SECONDS = 600
MAX_FAILURES = 20

_failures: dict[bytes, deque[float]] = {}
_lock = threading.Lock()


@cache
def _secret(secret_key: str) -> bytes:
    return hashlib.sha256(b"join-guard:" + secret_key.encode()).digest()


def _key(address: str) -> bytes:
    return hashlib.blake2b(address.encode(), key=_secret(settings.SECRET_KEY), digest_size=16).digest()


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def _redis_key(key: bytes) -> str:
    return f"{settings.LIVE_PREFIX}:guard:{key.hex()}"


def _recent(key: bytes, now: float) -> deque[float]:
    times = _failures.setdefault(key, deque())
    while times and times[0] <= now - WINDOW_SECONDS:
        times.popleft()
    return times


def blocked(address: str | None, now: float | None = None) -> bool:
    """Whether this address has guessed wrong too often recently."""
    if not address:
        return False
    key = _key(address)
    if settings.REDIS_URL:
        try:
            return int(_client(settings.REDIS_URL).get(_redis_key(key)) or 0) >= MAX_FAILURES
        except redis.RedisError:
            return False  # Redis away: let people join rather than lock everyone out
    now = time.monotonic() if now is None else now
    with _lock:
        return len(_recent(key, now)) >= MAX_FAILURES


def failed(address: str | None, now: float | None = None) -> None:
    """Count one wrong or closed code from this address."""
    if not address:
        return
    key = _key(address)
    if settings.REDIS_URL:
        # A fixed window from the first failure: one round trip, and it expires by itself.
        # A count lost while Redis is away is not worth an error page.
        with _client(settings.REDIS_URL).pipeline() as pipe, contextlib.suppress(redis.RedisError):
            pipe.incr(_redis_key(key)).expire(_redis_key(key), WINDOW_SECONDS, nx=True).execute()
        return
    now = time.monotonic() if now is None else now
    with _lock:
        _recent(key, now).append(now)
        if len(_failures) > 100_000:
            # Forget the quietest addresses rather than grow without bound.
            for stale in [k for k, v in _failures.items() if not v or v[-1] <= now - WINDOW_SECONDS]:
                del _failures[stale]


def forget_all() -> None:
    with _lock:
        _failures.clear()
    if settings.REDIS_URL:
        client = _client(settings.REDIS_URL)
        for name in client.scan_iter(match=f"{settings.LIVE_PREFIX}:guard:*"):
            client.delete(name)
