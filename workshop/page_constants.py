"""The numbers the pages' scripts run on, defined once on the server and handed to each page as
`data-` attributes on its root element (`{% page_constants "phone" %}`), so no script keeps a copy.

Close codes and the HTTP batch size are the server's own (websocket.py, fallback.py). The timings
are the phone's side of the contract: protocol.RATE_PER_SECOND is sized for a move every
MOVE_INTERVAL_MS plus a set per release, and docs/protocol.md promises the ping and silence limit.
"""

from __future__ import annotations

from workshop.fallback import MAX_MESSAGES
from workshop.websocket import CLOSE_FORBIDDEN, CLOSE_NOT_FOUND, CLOSE_REFUSED

# At most ~10 moves a second while dragging; protocol.RATE_PER_SECOND leaves room for bursts.
MOVE_INTERVAL_MS = 100
# While visible a phone pings this often; nothing heard for SILENCE_LIMIT_MS means the line is gone.
PING_INTERVAL_MS = 2000
SILENCE_LIMIT_MS = 4500
# Quiet after the last keyboard step before a set: key repeats make one set, not one per step.
COMMIT_DELAY_MS = 150
# A set the server could not store (`not_stored`) goes again after this, plus up to as much again.
RETRY_DELAY_MS = 2000
# Reconnecting: half the base plus up to half again, the base doubling from the first to the cap.
BACKOFF_FIRST_MS = 500
BACKOFF_MAX_MS = 30_000
# Dashboards reconnect sooner (at most 2 s apart): there are few of them.
DASHBOARD_BACKOFF_MAX_MS = 2000
# The HTTP fallback: a socket that has not opened within OPEN_TIMEOUT_MS, or closes within
# SHORT_LIVED_MS of opening, counts as blocked; over HTTP the socket is tried again with a backoff
# from PROBE_FIRST_MS to PROBE_MAX_MS.
OPEN_TIMEOUT_MS = 3000
# After one failed socket, HTTP takes over unless a socket is open this soon.
FALLBACK_AFTER_MS = 2500
SHORT_LIVED_MS = 5000
PROBE_FIRST_MS = 10_000
PROBE_MAX_MS = 300_000
# A phone refused at the door (room locked or full) asks again after this, doubling up to the cap, so that
# it is let in by itself once the room reopens.
REFUSED_RETRY_FIRST_MS = 4000
REFUSED_RETRY_MAX_MS = 16_000

_SOCKET = {
    "backoff_first_ms": BACKOFF_FIRST_MS,
    "open_timeout_ms": OPEN_TIMEOUT_MS,
    "fallback_after_ms": FALLBACK_AFTER_MS,
    "short_lived_ms": SHORT_LIVED_MS,
    "probe_first_ms": PROBE_FIRST_MS,
    "probe_max_ms": PROBE_MAX_MS,
    "batch_size": MAX_MESSAGES,
}

# Per page: attribute name (data-<name with dashes>) -> value.
PAGES: dict[str, dict[str, int]] = {
    "phone": {
        **_SOCKET,
        "backoff_max_ms": BACKOFF_MAX_MS,
        "close_not_found": CLOSE_NOT_FOUND,
        "close_refused": CLOSE_REFUSED,
        "move_interval_ms": MOVE_INTERVAL_MS,
        "ping_interval_ms": PING_INTERVAL_MS,
        "silence_limit_ms": SILENCE_LIMIT_MS,
        "commit_delay_ms": COMMIT_DELAY_MS,
        "retry_delay_ms": RETRY_DELAY_MS,
        "refused_retry_first_ms": REFUSED_RETRY_FIRST_MS,
        "refused_retry_max_ms": REFUSED_RETRY_MAX_MS,
    },
    "dashboard": {
        **_SOCKET,
        "backoff_max_ms": DASHBOARD_BACKOFF_MAX_MS,
        "close_forbidden": CLOSE_FORBIDDEN,
        "close_not_found": CLOSE_NOT_FOUND,
    },
}


def attributes(page: str) -> dict[str, int]:
    """The `data-` attributes of one page's root: `data-close-not-found` for "close_not_found"."""
    return {"data-" + name.replace("_", "-"): value for name, value in PAGES[page].items()}
