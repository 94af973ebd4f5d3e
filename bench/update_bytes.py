"""Bytes per dashboard update: the `aggregate` message as the dashboard socket sends it, control panel and
screen, for a session of 1,000 participants (three groups, both rounds placed), rendered in-process.

    .venv/bin/python bench/update_bytes.py [--participants 1000]
    .venv/bin/python bench/update_bytes.py --markdown   # the section of docs/performance.md (make bench)

Seeds the live store (the embedded MemoryStore) directly, with no phones, sockets or server, and
renders the message with `live_view.render_aggregate`, the function the socket calls. Prints one row
per state and view: the whole frame, its `html`, and the JSON statistics (everything but `html`), in
bytes of UTF-8 as sent (compact JSON). A throwaway SQLite database holds the session. `--markdown`
measures 1,000 participants (bars) and 60 (one dot each, the largest html) and sets them beside BEFORE.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GROUPS = ("Trio Noord", "Trio Zuid", "Gemeente Oost")
JOIN_URL = "https://schuif.example.nl/j/K7MPQ3/"
STATES = ("counting (results hidden)", "revealed (results shown)")
VIEWS = ("control panel", "screen")
# This script run on the code before one redacted view (e192220): (participants, state, view) -> frame, html.
BEFORE = {
    (1000, STATES[0], VIEWS[0]): (16394, 13533),
    (1000, STATES[0], VIEWS[1]): (6888, 5953),
    (1000, STATES[1], VIEWS[0]): (16589, 13724),
    (1000, STATES[1], VIEWS[1]): (17285, 14420),
    (60, STATES[0], VIEWS[0]): (30328, 27550),
    (60, STATES[0], VIEWS[1]): (6806, 5901),
    (60, STATES[1], VIEWS[0]): (30523, 27741),
    (60, STATES[1], VIEWS[1]): (31208, 28426),
}


def setup_django(database: Path) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        SQLITE_PATH=str(database),
        DEBUG="0",
        SECURE_SSL_REDIRECT="0",
        ALLOWED_HOSTS="localhost",
    )
    os.environ.setdefault("SECRET_KEY", "update-bytes-bench-only-insecure-key-not-for-any-server")
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)  # always the throwaway SQLite and the in-process store
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def measure(participants: int) -> list[tuple[str, str, int, int, int]]:
    from django.contrib.auth.models import User

    from workshop import live_view, session_control
    from workshop.live import MemoryStore
    from workshop.models import Exercise
    from workshop.session_info import load_session_info
    from workshop.websocket import dumps

    user, _ = User.objects.get_or_create(username="bytes", defaults={"is_superuser": True})
    exercise = Exercise.objects.filter(slug="wijkgericht-werken").order_by("-version").first()
    session = session_control.create_session(facilitator=user, exercise=exercise, title="Wijkteam Noord")
    groups = [session_control.add_group(session=session, name=name) for name in GROUPS]
    session_control.start_positioning(session=session)
    session_control.start_round_two(session=session)

    info = load_session_info(code=session.code)
    assert info is not None
    rng = random.Random(21)
    members = {p: groups[p % len(groups)].pk for p in range(1, participants + 1)}
    # Every participant places every slider in both rounds; one in twenty says "geen mening".
    positions = [
        (round, p, key, -1 if rng.random() < 0.05 else rng.randint(0, 100))
        for p in members
        for round in (1, 2)
        for key in info.slider_keys
    ]
    store = MemoryStore(connected_ttl=60)
    asyncio.run(store.seed(session.code, members=members, positions=positions))
    snapshot = asyncio.run(store.snapshot(session.code))

    # The reveal comes once the answers stand (the session in discussion), as the transition table has it.
    states = {STATES[0]: {}, STATES[1]: {"status": "discussion", "results": "shown", "profile_revealed": True}}
    rows = []
    for state, changes in states.items():
        for name, value in changes.items():
            setattr(info.session, name, value)
        for view, screen in zip(VIEWS, (False, True), strict=True):
            message = live_view.render_aggregate(
                info, snapshot, language="nl", screen=screen, join_url=JOIN_URL, qrs={}
            )
            whole = len(dumps(message).encode())
            statistics = len(dumps({k: v for k, v in message.items() if k != "html"}).encode())
            rows.append((state, view, whole, whole - statistics, statistics))
    return rows


def markdown(measured: dict[int, list[tuple[str, str, int, int, int]]]) -> str:
    lines = [
        "## Bytes per dashboard update",
        "",
        "One `aggregate` message as the dashboard socket sends it (compact JSON, UTF-8), round 2 with three",
        "groups and every slider placed in both rounds, rendered in-process by `bench/update_bytes.py`;",
        "`html` is the live partial, `json` everything beside it. Before: the same script on the code",
        "before one redacted view (e192220). The screen and the control panel now draw their `html` and",
        "their JSON from one view, redacted once for the screen; the JSON no longer repeats the current",
        "round's medians in `rounds` (round 1's are `before` per slider), and the html's indentation goes",
        "as single line breaks. Past 60 positions a slider is drawn as bars; up to 60 as one dot each, which",
        "makes the largest html: there the dots (an SVG `<circle>` of about 50 bytes each) are over half of",
        "it, so one path per slider, as the bars already are, is where the next saving lies.",
        "",
        "| participants | state | view | frame before | frame now | html before | html now | json before | json now |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for participants, rows in measured.items():
        for state, view, whole, html, statistics in rows:
            frame, html_before = BEFORE[(participants, state, view)]
            lines.append(
                f"| {participants:,} | {state} | {view} | {frame:,} | {whole:,} | {html_before:,} | {html:,} "
                f"| {frame - html_before:,} | {statistics:,} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--markdown", action="store_true", help="the docs/performance.md section, before and now")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        setup_django(Path(folder) / "bytes.sqlite3")
        if args.markdown:
            print(markdown({n: measure(n) for n in (1000, 60)}))
            return
        rows = measure(args.participants)
    print(f"{args.participants} participants, round 2, {len(GROUPS)} groups; bytes per aggregate message")
    print(f"{'state':<28}{'view':<15}{'frame':>8}{'html':>8}{'json':>8}")
    for state, view, whole, html, statistics in rows:
        print(f"{state:<28}{view:<15}{whole:>8}{html:>8}{statistics:>8}")


if __name__ == "__main__":
    main()
