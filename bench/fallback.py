"""The HTTP fallback under load: N phones on plain HTTP (an event stream each, POSTs for their
messages) against one daphne, and a dashboard on its websocket. Prints one JSON line.

Measured: the lag from a probe phone's `move` POST to the first dashboard aggregate that shows
it (p50/p95/p99), the lag from a facilitator's phase change to every phone's `state` on its
stream (p95, max), and exactness: the dashboard's final numbers equal every phone's last set.

    python bench/fallback.py --phones 50 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.phones import SLIDERS, Dashboard, HttpPhone, control
from tests.servers import SESSION_SETUP, Daphne, local_env, manage


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    env = local_env(
        **({"DATABASE_URL": args.database_url} if args.database_url else {}),
        **({"REDIS_URL": args.redis_url} if args.redis_url else {}),
    )
    manage("migrate", "--noinput", env=env)
    code, cookie = manage("shell", "-c", SESSION_SETUP, env=env).split()[-2:]
    server = Daphne(env)
    rng = random.Random(16)
    try:
        dashboard = Dashboard(f"{server.ws_url}/ws/d/{code}/", cookie, rng)
        watching = asyncio.create_task(dashboard.run())
        phones = [HttpPhone(server.port, code) for _ in range(args.phones)]
        listening = [asyncio.create_task(p.listen()) for p in phones]
        await asyncio.wait_for(asyncio.gather(*(p.welcomed.wait() for p in phones)), 60)
        probe, crowd = phones[0], phones[1:]
        lags: list[float] = []
        deadline = time.monotonic() + args.seconds

        async def drag(phone: HttpPhone) -> None:
            while time.monotonic() < deadline:
                await phone.set(rng.choice(SLIDERS), rng.randint(0, 100))
                await asyncio.sleep(rng.uniform(0.5, 1.5))  # a person's pace between two values

        crowd_task = asyncio.gather(*(drag(p) for p in crowd))
        while time.monotonic() < deadline:
            # A value nobody else uses, so the aggregate that shows it is unmistakable.
            value = rng.randint(0, 100)
            slider = "horizon"
            before = {s["key"]: (s["n"], s["median"]) for s in (dashboard.latest or {}).get("sliders", [])}
            sent = time.monotonic()
            await probe.set(slider, value)
            for _ in range(200):
                await dashboard.changed.wait()
                dashboard.changed.clear()
                latest = {s["key"]: (s["n"], s["median"]) for s in dashboard.latest["sliders"]}
                if dashboard.received[-1] > sent and latest != before:
                    lags.append(dashboard.received[-1] - sent)
                    break
            await asyncio.sleep(0.5)
        await crowd_task
        truth = {s: [p.last[s] for p in phones if s in p.last] for s in SLIDERS}
        exact = await dashboard.matches(truth, timeout=10)
        # A phase change by the facilitator: every phone's stream carries the new state.
        marks = [len(p.states) for p in phones]
        changed = time.monotonic()
        await control(server.port, code, cookie, "discussion")
        answered = time.monotonic()
        for phone, mark in zip(phones, marks, strict=True):
            while len(phone.states) <= mark:
                await asyncio.sleep(0.02)  # polling our own list; the phones' streams fill it
        phase = [phone.states[mark][0] - changed for phone, mark in zip(phones, marks, strict=True)]
        dashboard.stopped = True
        for task in [watching, *listening]:
            task.cancel()
        return {
            "label": args.label,
            "phones": args.phones,
            "seconds": args.seconds,
            "probe_samples": len(lags),
            "lag_ms_p50": round(statistics.median(lags) * 1000),
            "lag_ms_p95": round(percentile(lags, 0.95) * 1000),
            "lag_ms_p99": round(percentile(lags, 0.99) * 1000),
            "phase_ms_p95": round(percentile(phase, 0.95) * 1000),
            "phase_ms_max": round(max(phase) * 1000),
            "phase_post_ms": round((answered - changed) * 1000),
            "exact": exact,
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--label", default="fallback")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
