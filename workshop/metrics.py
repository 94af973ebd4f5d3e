"""Numbers an operator can watch: this process's phones, moves, sets, dashboard updates, refusals and errors,
for Prometheus at GET /metrics (docs/deployment.md, "Metrics").

Off unless METRICS_ENABLED: then every hook below is one check of a constant and nothing else. On, each hook
is one integer step on a plain object; the Prometheus families are built from those numbers at each scrape.
The hot-path modules (phone_socket, participation, consumers, fallback, guard) call these one-line hooks and
know nothing of Prometheus.

Each daphne process counts its own and serves its own numbers: Prometheus scrapes every process
(127.0.0.1:8001/metrics, :8002, ...), and tells them apart by its `instance` label; sums and rates are
taken across them in the queries. The endpoint sits in front of Django (config/asgi.py), so neither
ALLOWED_HOSTS nor the HTTPS redirect stand between a scraper on the host and a process; it answers only
clients whose address, as config/proxies.py resolved it from trusted proxies, is in
METRICS_ALLOWED_ADDRESSES.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from config.proxies import is_trusted, parse_address

PATH = "/metrics"
# Upper bounds of the dashboard lag histogram, in seconds (a tick is DASHBOARD_TICK_MS, 100 ms by default).
LAG_BUCKETS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)
TRANSPORTS = ("socket", "http")
SERVICES = ("database", "redis")


class Numbers:
    """This process's counts as plain numbers: a hook is an integer step (tens of nanoseconds, where a
    prometheus-client Counter takes a lock per step), and Prometheus's families are built only when scraped.
    The hot-path hooks run on the event loop's thread; the two that a worker thread may call (the join
    guard's) take a lock."""

    def __init__(self) -> None:
        self.phones = dict.fromkeys(TRANSPORTS, 0)
        self.dashboards = 0
        self.moves = 0
        self.sets = 0
        self.refusals = 0
        self.errors = dict.fromkeys(SERVICES, 0)
        self.lag = [0] * (len(LAG_BUCKETS) + 1)  # per bucket, not cumulative; the last: above every bound
        self.lag_sum = 0.0
        self.lock = threading.Lock()


NUMBERS = Numbers()

# Read once, when the process starts: a process counts or it does not. A constant, not the setting, on the
# hot path: `settings.X` goes through LazyObject.__getattribute__ (about 1 µs a lookup on this machine's
# busy cores, a fifth of a move's whole handling), a module constant costs a few nanoseconds.
ON: bool = bool(settings.METRICS_ENABLED)


class Collector:
    """Prometheus's view of NUMBERS, built at each scrape."""

    def collect(self) -> Iterator[Metric]:
        n = NUMBERS
        phones = GaugeMetricFamily(
            "schuifoefening_phones_connected",
            "Phones connected to this process, by transport (socket: websocket; http: the fallback's event stream).",
            labels=["transport"],
        )
        for transport in TRANSPORTS:
            phones.add_metric([transport], n.phones[transport])
        yield phones
        yield GaugeMetricFamily(
            "schuifoefening_dashboards_connected",
            "Dashboards (control panels and screens) on this process.",
            value=n.dashboards,
        )
        yield CounterMetricFamily("schuifoefening_moves", "Moves (live positions while dragging) received.", n.moves)
        yield CounterMetricFamily("schuifoefening_sets", "Committed positions stored and acknowledged.", n.sets)
        cumulative, buckets = 0, []
        for bound, count in zip((*map(str, LAG_BUCKETS), "+Inf"), n.lag, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily(
            "schuifoefening_dashboard_update_lag_seconds",
            "From a change reaching a dashboard's process to that dashboard's update being sent (_count: updates).",
            buckets=buckets,
            sum_value=n.lag_sum,
        )
        yield CounterMetricFamily(
            "schuifoefening_guard_refusals", "Join-code lookups refused by the guessing limit (429 / 4429).", n.refusals
        )
        errors = CounterMetricFamily(
            "schuifoefening_service_errors",
            "PostgreSQL or Redis (live store, channel layer, cache) unavailable when a socket, set or update"
            " needed it.",
            labels=["service"],
        )
        for service in SERVICES:
            errors.add_metric([service], n.errors[service])
        yield errors


REGISTRY = CollectorRegistry()
REGISTRY.register(Collector())
# CPU seconds, resident memory, open file descriptors (against LimitNOFILE) of this process.
ProcessCollector(registry=REGISTRY)


# Hooks: one line each at the call site. ------------------------------------------------------------------


def phone_connected(transport: str) -> None:
    if ON:
        NUMBERS.phones[transport] += 1


def phone_left(transport: str) -> None:
    if ON:
        NUMBERS.phones[transport] -= 1


def dashboard_connected() -> None:
    if ON:
        NUMBERS.dashboards += 1


def dashboard_left() -> None:
    if ON:
        NUMBERS.dashboards -= 1


def moved() -> None:
    if ON:
        NUMBERS.moves += 1


def stored() -> None:
    if ON:
        NUMBERS.sets += 1


def now() -> float:
    """A start time for `dashboard_updated` (monotonic)."""
    return time.monotonic()


def dashboard_updated(since: float) -> None:
    if ON:
        seconds = time.monotonic() - since
        NUMBERS.lag[bisect_left(LAG_BUCKETS, seconds)] += 1
        NUMBERS.lag_sum += seconds


def refused() -> None:
    if ON:
        with NUMBERS.lock:  # the join guard runs in a worker thread
            NUMBERS.refusals += 1


def unavailable(error: BaseException) -> None:
    """A database or Redis error (websocket.UNAVAILABLE) that a socket, set, update or the join guard ran into."""
    if ON:
        with NUMBERS.lock:
            NUMBERS.errors["database" if isinstance(error, DatabaseError) else "redis"] += 1


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
