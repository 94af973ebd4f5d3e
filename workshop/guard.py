"""Limiting join-code guessing per client address, without keeping addresses.

Only failed lookups (an unknown or closed code) count, and only failed lookups
are refused once an address has failed MAX_FAILURES times in the window: an
open session can always be found, so a hall of phones behind one address is
never locked out of its room by a few typos. Counts live in Django's cache
(Redis with REDIS_URL, so every daphne process shares one limit; this
process's memory otherwise), under a keyed hash of the address (the key
derives from SECRET_KEY): an address is never logged or stored.
"""

from __future__ import annotations

import hashlib
from functools import cache

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache as django_cache
from redis.exceptions import RedisError

from workshop import metrics

WINDOW_SECONDS = 600
MAX_FAILURES = 20


@cache
def _secret(secret_key: str) -> bytes:
    return hashlib.sha256(b"join-guard:" + secret_key.encode()).digest()


def cache_key(address: str) -> str:
    digest = hashlib.blake2b(address.encode(), key=_secret(settings.SECRET_KEY), digest_size=16).hexdigest()
    return f"guard:{digest}"


def lookup_allowed(address: str | None, *, found: bool) -> bool:
    """Count a code lookup's outcome; False when a failed lookup must be refused (429 / 4429).

    A fixed window from the first failure: one add and one increment, and it expires by itself.
    """
    if found or not address:
        return True
    key = cache_key(address)
    try:
        django_cache.add(key, 0, timeout=WINDOW_SECONDS)
        failures = django_cache.incr(key)
    except ValueError:
        # The window ended between the add and the increment: this failure opens a new one.
        django_cache.add(key, 1, timeout=WINDOW_SECONDS)
        return True
    except (RedisError, OSError) as error:
        metrics.unavailable(error)
        return True  # Redis away: a lost count is not worth refusing anyone
    if failures > MAX_FAILURES:
        metrics.refused()
        return False
    return True


_lookup_in_thread = sync_to_async(lookup_allowed, thread_sensitive=False)


async def alookup_allowed(address: str | None, *, found: bool) -> bool:
    # A found session is never refused: no thread and no cache for the join of every phone of a hall.
    if found or not address:
        return True
    return await _lookup_in_thread(address, found=found)
