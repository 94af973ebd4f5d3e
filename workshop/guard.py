"""Limiting join-code guessing per client address, without keeping addresses, and without being an oracle.

Every lookup of a session code by someone who has not proved they know it counts here: the join
page, the phone's socket, the HTTP fallback's stream and send, and the personal PDF. One budget per
address, shared by all of them:

- **Under the limit** only failed lookups (an unknown or closed code) count, and an open session is
  always found: a hall of phones behind one address is never slowed by a few typos.
- **Over the limit** (MAX_FAILURES failures in the window) every lookup, of an unknown code or an
  open one alike, costs the address's one lookup a second (`TICK_SECONDS`); without it the answer
  is the same refusal (429 / 4429) whatever the code. So the address learns at most one code's
  existence a second, and the answer no longer tells an open code from an unknown one.
- A code this address was already given an answer for in the window costs nothing: it learns
  nothing new. So once one phone of a room behind the address got through, every other phone of
  that room (and every reconnect) goes through at once, however hard someone else guesses.
- A phone that scanned the screen's QR code has proved it knows the code: the QR link carries
  `?k=<proof>`, a keyed hash of the code (`proof`), which only someone who has seen the code can
  have. Such a lookup costs nothing and counts as answered for its address, so a room joins at once
  even while someone behind the same address floods the one lookup a second with guesses (first
  come, first served: a flood would win nearly every second).

Counts live in Django's cache (Redis with REDIS_URL, so every daphne process shares one budget;
this process's memory otherwise), under keyed hashes of the address and code (the key derives from
SECRET_KEY): an address is never logged or stored.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from functools import cache

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache as django_cache
from redis.exceptions import RedisError

from workshop import metrics

WINDOW_SECONDS = 600
MAX_FAILURES = 20
# Over the limit, an address gets one lookup of a code it has not asked before per this many seconds.
TICK_SECONDS = 1
clock = time.time  # tests move it


@cache
def _secret(secret_key: str) -> bytes:
    return hashlib.sha256(b"join-guard:" + secret_key.encode()).digest()


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), key=_secret(settings.SECRET_KEY), digest_size=16).hexdigest()


def cache_key(address: str) -> str:
    return f"guard:{_digest(address)}"


def _answered_key(address_key: str, code: str) -> str:
    return f"{address_key}:seen:{_digest(code.upper())}"


def _tick_key(address_key: str, now: float) -> str:
    return f"{address_key}:tick:{int(now // TICK_SECONDS)}"


def proof(code: str) -> str:
    """What the QR code's link carries beside the code: proof that whoever follows it has seen the code."""
    return _digest(f"qr:{code.upper()}")[:16]


def with_proof(url: str, code: str) -> str:
    """A join link (with or without its ?g=) as the QR code carries it."""
    return f"{url}{'&' if '?' in url else '?'}k={proof(code)}"


def proves(code: str, given: str) -> bool:
    return len(given) == 16 and hmac.compare_digest(proof(code), given)


def lookup_allowed(address: str | None, *, found: bool, code: str | None = None, given_proof: str = "") -> bool:
    """Count a code lookup; False when it must be refused (429 / 4429), which over the limit happens
    to an open code exactly as to an unknown one. A valid `given_proof` (the QR link's `k`) passes, and
    makes the code answered for the address (its socket and every other phone of the room pass too)."""
    if not address:
        return True
    key = cache_key(address)
    answered = _answered_key(key, code or "")
    if code and given_proof and proves(code, given_proof):
        try:
            django_cache.set(answered, 1, timeout=WINDOW_SECONDS)
        except (RedisError, OSError) as error:
            metrics.unavailable(error)
        return True
    try:
        known = django_cache.get_many([key, answered])
        failures = known.get(key, 0)
        if failures < MAX_FAILURES:
            return True if found else _count_failure(key)
        if answered in known:
            return True  # this address had this code's answer already: nothing new to learn
        # The first lookup in this tick gets it; the rest of the tick is refused, whatever the code.
        if not django_cache.add(_tick_key(key, clock()), 1, timeout=TICK_SECONDS + 1):
            metrics.refused()
            return False
        django_cache.set(answered, 1, timeout=WINDOW_SECONDS)
        return True
    except (RedisError, OSError) as error:
        metrics.unavailable(error)
        return True  # Redis away: a lost count is not worth refusing anyone


def _count_failure(key: str) -> bool:
    """A fixed window from the first failure: one add and one increment, and it expires by itself."""
    try:
        django_cache.add(key, 0, timeout=WINDOW_SECONDS)
        failures = django_cache.incr(key)
    except ValueError:
        # The window ended between the add and the increment: this failure opens a new one.
        django_cache.add(key, 1, timeout=WINDOW_SECONDS)
        return True
    if failures > MAX_FAILURES:
        metrics.refused()
        return False
    return True


_lookup_in_thread = sync_to_async(lookup_allowed, thread_sensitive=False)
# The open codes this process let an address find (keyed hashes -> until when): asking again reveals
# nothing new, so a phone's reconnect or the fallback's every send needs no thread and no cache.
known_here: dict[tuple[str, str], float] = {}
KNOWN_HERE_MAX = 50_000


async def alookup_allowed(address: str | None, *, found: bool, code: str | None = None) -> bool:
    if not address:
        return True
    pair = (cache_key(address), code or "")
    now = clock()
    if found and known_here.get(pair, 0.0) > now:
        return True
    allowed = await _lookup_in_thread(address, found=found, code=code)
    if allowed and found:
        if len(known_here) >= KNOWN_HERE_MAX:
            known_here.clear()  # a fresh start costs one cache read per pair, not a refusal
        known_here[pair] = now + WINDOW_SECONDS
    return allowed


def within(address: str | None, *, name: str, limit: int, seconds: int) -> bool:
    """At most `limit` requests of one kind per address per fixed window of `seconds` (the personal PDF's
    rate); no address (a test, a socket without a peer) is not limited."""
    return not address or counted(f"{cache_key(address)}:{name}:{int(clock() // seconds)}", limit, seconds)


def counted(name: str, limit: int, seconds: int) -> bool:
    """Count one more use of `name` (hashed); False once it has been used more than `limit` times."""
    key = f"guard:use:{_digest(name)}"
    try:
        django_cache.add(key, 0, timeout=seconds + 1)
        return django_cache.incr(key) <= limit
    except ValueError:
        return True  # expired between the add and the increment: a new window
    except (RedisError, OSError):
        return True
