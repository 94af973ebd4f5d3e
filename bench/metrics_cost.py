"""The metrics hooks' cost on the hottest path: `Conversation.receive` on a move, in-process, with
METRICS_ENABLED's hooks off and on, alternating, in CPU time of this thread (a busy machine's waiting
does not count).

    .venv/bin/python bench/metrics_cost.py [--calls 100000] [--rounds 11]

A throwaway SQLite database holds one session in round 1 and one welcomed participant; the phone's rate
limit is lifted so that every call is a real move. Prints the best and the median per call for each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def measure(calls: int, rounds: int) -> dict[bool, list[float]]:
    from asgiref.sync import sync_to_async
    from django.contrib.auth.models import User

    from workshop import metrics, protocol, session_control
    from workshop.models import Exercise, Participant
    from workshop.phone import Conversation
    from workshop.session_info import aload_session_info

    def setup() -> tuple[str, int]:
        user, _ = User.objects.get_or_create(username="metrics-cost")
        exercise = Exercise.objects.filter(slug="wijkgericht-werken").order_by("-version").first()
        session = session_control.create_session(facilitator=user, exercise=exercise, title="metrics cost")
        session_control.start_positioning(session=session)
        return session.code, Participant.objects.create(session=session, token_hash=secrets.token_hex(32)).pk

    code, participant = await sync_to_async(setup)()
    info = await aload_session_info(code=code)
    assert info is not None
    bucket = protocol.TokenBucket()
    bucket.rate = bucket.burst = bucket.tokens = 1e12
    conversation = Conversation(info, language="nl", name="metrics-cost", bucket=bucket)
    conversation.participant = participant
    conversation.last_touch = asyncio.get_running_loop().time() + 1e9  # no keep-alive writes in between
    frame = '{"type":"move","slider":"regie","value":50}'
    per_call: dict[bool, list[float]] = {False: [], True: []}
    for round_ in range(rounds):
        for on in (False, True) if round_ % 2 == 0 else (True, False):
            metrics.ON = on
            started = time.thread_time()
            for _ in range(calls):
                await conversation.receive(frame)
            per_call[on].append((time.thread_time() - started) / calls * 1e6)
    return per_call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=11)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        os.environ.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DEBUG="1",
            SQLITE_PATH=str(Path(workdir) / "db.sqlite3"),
            LOG_LEVEL="WARNING",
        )
        for name in ("DATABASE_URL", "REDIS_URL"):
            os.environ.pop(name, None)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        per_call = asyncio.run(measure(options.calls, options.rounds))
    for on in (False, True):
        print(
            f"metrics {'on ' if on else 'off'}: best {min(per_call[on]):.3f} µs, "
            f"median {statistics.median(per_call[on]):.3f} µs per move"
        )
    ratio = statistics.median(per_call[True]) / statistics.median(per_call[False])
    print(f"on / off (medians): {ratio:.3f}")


if __name__ == "__main__":
    main()
