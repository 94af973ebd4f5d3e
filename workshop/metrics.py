"""Numbers an operator can watch: this process's phones, moves, sets, dashboard updates, refusals and errors,
for Prometheus at GET /metrics (docs/deployment.md, "Metrics").

Off unless METRICS_ENABLED: then every hook below is one settings lookup and nothing else. On, each hook is
one counter or gauge step (a lock and a float add, well under a microsecond). The hot-path modules
(phone_socket, participation, consumers, fallback, guard) call these one-line hooks and know nothing of
Prometheus.

Each daphne process counts its own and serves its own numbers: Prometheus scrapes every process
(127.0.0.1:8001/metrics, :8002, ...), and tells them apart by its `instance` label; sums and rates are
taken across them in the queries. The endpoint sits in front of Django (config/asgi.py), so neither
ALLOWED_HOSTS nor the HTTPS redirect stand between a scraper on the host and a process; it answers only
clients whose address, as config/proxies.py resolved it from trusted proxies, is in
METRICS_ALLOWED_ADDRESSES.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import ProcessCollector as _ProcessCollector

from config.proxies import is_trusted, parse_address

PATH = "/metrics"
REGISTRY = CollectorRegistry(auto_describe=True)
# CPU seconds, resident memory, open file descriptors (against LimitNOFILE) of this process.
_ProcessCollector(registry=REGISTRY)

PHONES = Gauge(
    "schuifoefening_phones_connected",
    "Phones connected to this process, by transport (socket: websocket; http: the fallback's event stream).",
    ["transport"],
    registry=REGISTRY,
)
DASHBOARDS = Gauge(
    "schuifoefening_dashboards_connected", "Dashboards (control panels and screens) on this process.", registry=REGISTRY
)
MOVES = Counter("schuifoefening_moves", "Moves (live positions while dragging) received.", registry=REGISTRY)
SETS = Counter("schuifoefening_sets", "Committed positions stored and acknowledged.", registry=REGISTRY)
UPDATE_LAG = Histogram(
    "schuifoefening_dashboard_update_lag_seconds",
    "From a change reaching a dashboard's process to that dashboard's update being sent (its _count: updates).",
    buckets=(0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0),
    registry=REGISTRY,
)
REFUSALS = Counter(
    "schuifoefening_guard_refusals", "Join-code lookups refused by the guessing limit (429 / 4429).", registry=REGISTRY
)
ERRORS = Counter(
    "schuifoefening_service_errors",
    "PostgreSQL or Redis (live store, channel layer, cache) unavailable when a socket, set or update needed it.",
    ["service"],
    registry=REGISTRY,
)
for _transport in ("socket", "http"):
    PHONES.labels(_transport)
for _service in ("database", "redis"):
    ERRORS.labels(_service)
_SOCKET, _HTTP = PHONES.labels("socket"), PHONES.labels("http")
_DATABASE, _REDIS = ERRORS.labels("database"), ERRORS.labels("redis")

# Hooks: one line each at the call site. ------------------------------------------------------------------


def phone_connected(transport: str) -> None:
    if settings.METRICS_ENABLED:
        (_SOCKET if transport == "socket" else _HTTP).inc()


def phone_left(transport: str) -> None:
    if settings.METRICS_ENABLED:
        (_SOCKET if transport == "socket" else _HTTP).dec()


def dashboard_connected() -> None:
    if settings.METRICS_ENABLED:
        DASHBOARDS.inc()


def dashboard_left() -> None:
    if settings.METRICS_ENABLED:
        DASHBOARDS.dec()


def moved() -> None:
    if settings.METRICS_ENABLED:
        MOVES.inc()


def stored() -> None:
    if settings.METRICS_ENABLED:
        SETS.inc()


def now() -> float:
    """A start time for `dashboard_updated` (monotonic)."""
    return time.monotonic()


def dashboard_updated(since: float) -> None:
    if settings.METRICS_ENABLED:
        UPDATE_LAG.observe(time.monotonic() - since)


def refused() -> None:
    if settings.METRICS_ENABLED:
        REFUSALS.inc()


def unavailable(error: BaseException) -> None:
    """A database or Redis error (websocket.UNAVAILABLE) that a socket, set or update ran into."""
    if settings.METRICS_ENABLED:
        (_DATABASE if isinstance(error, DatabaseError) else _REDIS).inc()


# The endpoint. --------------------------------------------------------------------------------------------


def allowed(client: str | None) -> bool:
    return is_trusted(parse_address(client) if client else None, settings.METRICS_ALLOWED_ADDRESSES)


class MetricsEndpoint:
    """ASGI: GET /metrics when enabled and allowed (403 otherwise); every other request goes on to `app`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or not settings.METRICS_ENABLED:
            return await self.app(scope, receive, send)
        client = (scope.get("client") or [None])[0]
        if scope["method"] not in ("GET", "HEAD"):
            status, body, kind = 405, b"GET only\n", b"text/plain; charset=utf-8"
        elif not allowed(client):
            status, body, kind = 403, b"Forbidden: not in METRICS_ALLOWED_ADDRESSES\n", b"text/plain; charset=utf-8"
        else:
            status, body, kind = 200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST.encode()
        headers = [(b"content-type", kind), (b"content-length", b"%d" % len(body)), (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})  # daphne sends none for a HEAD
