"""Sizing figures for docs/deployment.md: bench/harness.py runs on PostgreSQL and a Redis of this
script's own, with Redis's commands and PostgreSQL's commits counted while the phones drive.

    .venv/bin/python bench/sizing.py 500 --sparse 2000 --idle 2000

Prints one JSON line per run: the harness's report plus `redis_cmds_per_s`, `pg_commits_per_s`,
`pg_rows_per_s` (medians over Redis's busiest ten one-second samples: the phones driving),
`pg_commits_per_s_peak` (the busiest second, while phones join) and `redis_used_mb` at the end.
Redis is our own so that nothing else's commands are counted.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import redis  # noqa: E402

from bench import harness  # noqa: E402
from tests.servers import RedisServer  # noqa: E402

DATABASE = "schuif_sizing"


def pg_counts() -> tuple[int, int]:
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres") as conn:
        commits, rows = conn.execute(
            "SELECT xact_commit, tup_inserted + tup_updated FROM pg_stat_database WHERE datname = %s", (DATABASE,)
        ).fetchone()
    return commits, rows


def sample(client: redis.Redis, samples: list[tuple[float, int, int, int]], done: threading.Event) -> None:
    """Once a second: Redis's commands so far, PostgreSQL's commits and written rows so far."""
    while not done.wait(1):
        # pg_stat_database lags by up to a second; the busiest samples still show the plateau.
        commits, rows = pg_counts()
        samples.append((time.monotonic(), client.info("stats")["total_commands_processed"], commits, rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("phones", type=int, nargs="*")
    parser.add_argument("--sparse", type=int, nargs="*", default=[], help="phones with a quarter dragging at once")
    parser.add_argument("--idle", type=int, nargs="*", default=[])
    args = parser.parse_args()
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
            conn.execute(f"CREATE DATABASE {DATABASE}")
    server = RedisServer()
    harness.REDIS_URL = server.url
    harness.PG_URL = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
    client = redis.Redis(port=server.port)
    runs = [harness.Options(topology="redis", phones=n) for n in args.phones]
    runs += [harness.Options(topology="redis", phones=n, duty=0.25) for n in args.sparse]
    runs += [harness.Options(topology="redis", phones=n, idle=True) for n in args.idle]
    try:
        for options in runs:
            samples: list[tuple[float, int, int, int]] = []
            done = threading.Event()
            sampler = threading.Thread(target=sample, args=(client, samples, done))
            sampler.start()
            report = asyncio.run(harness.run(options))
            done.set()
            sampler.join()
            rates = [tuple((b[i] - a[i]) / (b[0] - a[0]) for i in (1, 2, 3)) for a, b in itertools.pairwise(samples)]
            # The measured window is when the phones drive: Redis's busiest seconds. Joining (a few
            # queries per phone) is PostgreSQL's busiest time instead, reported apart.
            window = sorted(rates)[-10:]
            for i, name in enumerate(("redis_cmds_per_s", "pg_commits_per_s", "pg_rows_per_s")):
                report[name] = round(statistics.median(r[i] for r in window), 1) if window else None
            report["pg_commits_per_s_peak"] = round(max((r[1] for r in rates), default=0), 1)
            report["redis_used_mb"] = round(client.info("memory")["used_memory"] / 2**20, 1)
            print(json.dumps(report), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
