"""`make bench`: run the benchmark scenarios, append JSON lines, regenerate docs/performance.md.

python bench/run.py            # the full suite (about 15 minutes on 2 cores)
python bench/run.py --report   # only regenerate the report from bench/results/runs.jsonl
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "runs.jsonl"
REPORT = ROOT / "docs" / "performance.md"
PLOT = ROOT / "docs" / "performance.png"

STEADY = [100, 250, 500, 750, 1000, 1250, 1500, 1750, 2000, 2250, 2500, 2750, 3000]
# Above this, a steady series stops at its first failing step (p95 over 250 ms or an invalid run).
STEP_FROM = {"steady": 750, "scale": 0}
STEP_LIMIT_MS = 250
# "More cores": each server process gets 30 % of the server core (a CPU quota), so one such process can be
# set against two while the generator keeps the other core to itself; Redis and PostgreSQL run on the server
# core in the rest (the harness pins them there for the run). With half a core each and Redis beside the
# generator, the generator could not keep its schedule past 800 phones.
SCALE_CPU = 0.3
SCALE = [150, 200, 250, 300, 350, 400, 450, 500, 600, 700, 800]
PROFILE = ROOT / "docs" / "performance-flame.svg"
PAIRS = 3
SUITE: list[dict[str, Any]] = [
    # Size by size, the project and then the baseline: a machine that slows down for a while slows both.
    *({"label": "steady", "target": t, "phones": n} for n in STEADY for t in ("project", "baseline")),
    *({"label": "scale", "target": "project", "topology": "redis", "cpu": SCALE_CPU, "phones": n} for n in SCALE),
    *({"label": "scale", "target": "project", "topology": "two", "cpu": SCALE_CPU, "phones": n} for n in SCALE),
    # The two targets that compare with the baseline at one size are judged on the median of paired runs
    # (project, then baseline, right after each other): one run of either moves by a quarter on this machine.
    *(
        {"label": "cpu pair", "target": t, "phones": 1000, "pair": i}
        for i in range(1, PAIRS + 1)
        for t in ("project", "baseline")
    ),
    *(
        {"label": "storm", "target": t, "phones": 1000, "storm": 10.0, "pair": i}
        for i in range(1, PAIRS + 1)
        for t in ("project", "baseline")
    ),
    {"label": "fallback", "target": "project", "phones": 50, "script": "fallback.py", "seconds": 30},
    # 500 phones dragging at 10 Hz over the HTTP fallback, and right after it the same 500 on websockets.
    {
        "label": "drag http",
        "target": "project",
        "phones": 500,
        "script": "fallback.py",
        "args": ["--drag"],
        "seconds": 10,
    },
    {"label": "drag socket", "target": "project", "phones": 500},
    *({"label": "sparse", "target": t, "phones": 2000, "duty": 0.25} for t in ("project", "baseline")),
    {"label": "burst", "target": "project", "phones": 500, "burst": True},
    # 200 phones alone, then beside one socket flooding 2,000 moves a second.
    *({"label": "flood", "target": "project", "phones": 200, "flood": f} for f in (0, 2000)),
    {"label": "redis", "target": "project", "topology": "redis", "phones": 500},
    # The Prometheus hooks' cost (METRICS_ENABLED): off and on right after each other, the order alternating.
    *(
        {"label": f"metrics {state}", "target": "project", "phones": 500, "metrics": state == "on", "pair": i}
        for i in range(1, PAIRS + 1)
        for state in (("off", "on") if i % 2 else ("on", "off"))
    ),
    {"label": "two processes", "target": "project", "topology": "two", "phones": 500},
    *({"label": "idle", "target": "project", "phones": n, "idle": True} for n in (1000, 5000)),
    {"label": "idle", "target": "baseline", "phones": 5000, "idle": True},
    # The flame graph of the final state (its figures are a profiled run's, so it makes no row).
    {"label": "profile", "target": "project", "phones": 1000, "profile": str(PROFILE)},
]


def series(spec: dict[str, Any]) -> tuple[Any, ...]:
    return (spec["label"], spec["target"], spec.get("topology", "embedded"), spec.get("cpu", 0.0))


def failed(line: dict[str, Any]) -> bool:
    return "error" in line or not line.get("valid") or (line.get("lag_ms_p95") or 0) > STEP_LIMIT_MS


def run_one(spec: dict[str, Any]) -> dict[str, Any]:
    """One run of the harness (or of the spec's own script), its JSON line with the spec's fields."""
    args = [sys.executable, str(ROOT / "bench" / spec.get("script", "harness.py"))]
    options = {"phones": spec["phones"], "seconds": spec["seconds"]} if "script" in spec else spec
    args += spec.get("args", [])
    for key, value in options.items():
        if key in ("pair", "args"):
            continue  # the suite's own bookkeeping, not the harness's
        if value is True:
            args.append(f"--{key}")
        elif value is False:
            continue  # a flag left off ("--metrics False" would be an argument the harness refuses)
        else:
            args += [f"--{key}", str(value)]
    started = time.time()
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if result.returncode:
        return {**spec, "error": result.stderr.strip().splitlines()[-1] if result.stderr else "failed"}
    line = {
        **json.loads(result.stdout.strip().splitlines()[-1]),
        **{k: v for k, v in spec.items() if k not in ("script", "args")},
    }
    line["run_seconds"] = round(time.time() - started, 1)
    line["when"] = time.strftime("%Y-%m-%d %H:%M")
    return line


def latest_runs() -> list[dict[str, Any]]:
    if not RESULTS.exists():
        return []
    runs = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    newest: dict[tuple, dict[str, Any]] = {}
    for run in runs:
        key = (
            run.get("label"),
            run.get("target"),
            run.get("topology", "embedded"),
            run.get("phones"),
            run.get("duty", 1.0),
            run.get("flood", 0),
            run.get("cpu", 0.0),
            run.get("pair", 0),
            run.get("attempt", 1),
        )
        newest[key] = run
    return list(newest.values())


DASH = "\u2013"
COLUMNS = [
    ("scenario", "label"),
    ("server", "target"),
    ("topology", "topology"),
    ("phones", "phones"),
    ("try", "attempt"),
    ("d", "duty"),
    ("flood msgs/s", "flood"),
    ("msgs/s", "offered_msgs_per_s"),
    ("lag p50", "lag_ms_p50"),
    ("p95", "lag_ms_p95"),
    ("p99", "lag_ms_p99"),
    ("max (ms)", "lag_ms_max"),
    ("server CPU %", "server_cpu_pct"),
    ("CPU ms/msg", "server_cpu_ms_per_msg"),
    ("RSS MB", "server_rss_mb"),
    ("KB/conn", "rss_per_connection_kb"),
    ("connect p95 ms", "connect_ms_p95"),
    ("CPU quota", "cpu"),
    ("Redis cmds/s", "redis_commands_per_s"),
    ("PG xacts/s", "pg_transactions_per_s"),
    ("valid", "valid"),
    ("exact", "exact"),
    ("lost", "lost_acks"),
]
ORDER = {"steady": 0, "sparse": 1, "burst": 2, "flood": 3, "redis": 4, "two processes": 5, "scale": 6, "idle": 7}
TABLED = set(ORDER)
INTRO = """# Performance

Generated by `make bench` (`bench/run.py`); do not edit by hand. Each row is one run of
`bench/harness.py`: the server on core 0 (daphne; `two processes` share that core), the
generator on core 1, N phones each dragging one slider at a time at 10 Hz with `move` and a
`set` on release, a duty cycle d of phones dragging at once, 3 s warm-up then 10 s measured.
Lag is end to end: from a probe phone's `move` to the first dashboard aggregate that shows it
(on the embedded default a move goes into the live store at once, the dashboards are woken at
most every 50 ms, and each gets at most one aggregate per 100 ms; with Redis, moves go in batches
every 50 ms). The
baseline (`bench/baseline.py`) is the same protocol and statistics as a raw ASGI app on daphne,
without Channels and Django. A run is valid only if the generator stayed under 85 % CPU and sent
on schedule (p99 send lag at most 20 ms); `exact` means the final aggregate equalled the truth
from every phone's last value; `lost` counts acknowledged `set`s missing from the database.
The dashboard confirms every aggregate with `seen`, as the page does. The `flood` rows run 200
phones alone, then beside one abusive socket sending 2,000 moves a second that comes straight
back each time the server closes it.

Steady series run upward, size by size the project and then the baseline, and stop at their
first failing size (p95 over 250 ms, or a run the generator could not keep on schedule); a size
fails only when a second run (`try` 2) fails too, for both alike, since one run can meet a busy
moment of this shared machine. The last size that held is the **step to failure**. The
`scale` rows set one daphne process against two, each process held to 30 % of the server core
by a CPU quota (cgroup `cpu.cfs_quota_us`, 3 ms per 10 ms), on PostgreSQL and one Redis that run
on the server core too, in the rest of it: on this 2-core machine that is how "two cores" can be
measured while the generator keeps a core of its own. `Redis cmds/s` counts every command
Redis ran (those inside our Lua batches included) and
`PG xacts/s` PostgreSQL's transactions, both server-wide during the measured window. Server and
baseline run with the same collector settings (`gc.freeze()` after start-up, first threshold
50,000) and the same SQLite settings (WAL, `synchronous=NORMAL`); the baseline, like the
project, stores each new participant before its `welcome`.
"""

LIMITS = """## What limits it

- **The event loop of one process, and most of it is daphne's.** A phone's socket is a plain ASGI
  app (`phone_socket.py`): a move is read, parsed with one shared JSON decoder, checked and put
  straight into the in-memory live store, without a task, a reply or a settings lookup. The
  flame graph shows the rest: Twisted reading sockets and autobahn parsing and unmasking frames,
  which the baseline pays alike. Over four paired runs at 1,000 phones the project spent 1.07 to
  1.23 times the baseline's CPU per message, median 1.14 (an earlier suite of the same code: 0.99
  to 1.33, median 1.13); one run of either moves by up to a quarter on this shared machine, so the
  target is judged on the median of the pairs.
- **What the project adds.** Per move, the conversation's checks and the live counts for the
  room and each group: about 6 µs of Python against the baseline's 3 µs. Per tick, the
  dashboard's aggregate: statistics, profile match and the HTML partial, about 2 ms at 1,000
  participants, at most ten times a second per dashboard (the histogram past 60 positions is one
  SVG path, not a rectangle per bar, which halved it).
- **Why the step to failure moved from 750 to about the baseline's.** Moves used to wait for a
  50 ms batch even in memory, and a dashboard saw them only after that batch, the channel layer
  and the consumer's own hops. Near a full core each hop waits for a whole turn of a crowded loop,
  so p95 passed 250 ms at 1,000 phones. Now the embedded store takes each move at once and the
  dashboard reads it when it draws: the batch only wakes the dashboards. The project held 2,000
  phones and the baseline 2,250, each failing the next size twice: 0.89 times. Earlier suites of
  the same code held 1,500 and 2,250 against 2,250 and 2,250 (0.67 and 1.0 times; the first
  without the second try).
  With Redis the batch stays: one Lua call per 50 ms per process instead of one per move.
- **More cores scale.** Phones share nothing but Redis and PostgreSQL: one process held to 30 % of
  a core carried 250 phones, two such processes 600, on one consistent dashboard (2.4 times; with
  half a core each, two processes reached 800 before the generator, then sharing its core with
  Redis, lost its schedule). A session's events
  reach a process's phones through one relay channel, not one channel per phone.
- **Joining.** A hello costs a participant row under the session's row lock (the baseline's
  insert has no lock and no transaction) and is the one database call on the way: the session is
  shared per process and kept current by the relay, the join guard needs no thread for an open
  session, the session's lock and cap are read with one plain SQL query (the ORM's query building
  cost more than the query), SQLite stays open in WAL mode without an fsync per commit, the
  URLconf is loaded at start, and the collector leaves the start-up heap alone (`gc.freeze()`).
  Over three paired storms the project's welcome p95 was 1.24 to 1.94 times the baseline's,
  median 1.56 (an earlier suite: 1.35 to 1.84, median 1.43). Spaced 10 ms apart, a join's
  database work takes two to three times as long as back to back (cold caches), which is why a
  storm of a hundred joins a second shows it.
- **Commits.** Every `set` is one database transaction, and its value in the live store, before
  its `ack`. On SQLite they are serialised on one thread; with a quarter of 2,000 phones dragging,
  each phone commits every 2 s (1,000 commits a second), which is why the `sparse` row costs 1.8
  times the baseline's CPU per message while its p95 stays near 100 ms. For a congress use
  PostgreSQL.
- **Memory per phone** is about 29 to 31 KB (daphne's connection, the scope, one `PhoneSocket`
  and its conversation); the exercise and the session are shared per process.
- **The generator** stays within its limits in every row marked valid; past about 2,250 phones
  its own schedule starts to slip, so the baseline's step to failure there is a lower bound."""


def cell(run: dict[str, Any], key: str) -> str:
    value = run.get(key, "embedded" if key == "topology" else None)
    if key == "valid" and value is False:
        return "no: " + "; ".join(run.get("invalid_because", []))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return DASH if value is None else str(value)


def current(run: dict[str, Any]) -> bool:
    """Whether the suite still runs this size and quota (older runs stay in the results file, not the report)."""
    if run.get("label") == "steady":
        return run.get("phones") in STEADY
    if run.get("label") == "scale":
        return run.get("phones") in SCALE and run.get("cpu") == SCALE_CPU
    return True


def report() -> None:
    runs = [r for r in latest_runs() if current(r)]
    if not runs:
        print("no runs yet", file=sys.stderr)
        return
    plot(runs)
    newest = max(r.get("when", "") for r in runs)
    lines = [
        INTRO,
        f"Machine: {platform.machine()}, Python {platform.python_version()}, 2 cores. Newest run: {newest}.",
        "",
        "![p95 lag against phones](performance.png)",
        "",
        "| " + " | ".join(title for title, _ in COLUMNS) + " |",
        "| " + " | ".join("---" for _ in COLUMNS) + " |",
    ]
    tabled = [r for r in runs if r.get("label") in TABLED]
    for run in sorted(
        tabled,
        key=lambda r: (
            ORDER[r["label"]],
            r.get("topology", ""),
            r.get("phones", 0),
            r.get("target"),
            r.get("attempt", 1),
        ),
    ):
        if "error" in run:
            lines.append(f"| {run.get('label')} | {run.get('target')} | error: {run['error']} |")
        else:
            lines.append("| " + " | ".join(cell(run, key) for _, key in COLUMNS) + " |")
    lines += ["", *pairs_table(runs), "", *storm_table(runs), "", *fallback_table(runs)]
    lines += ["", *drag_table(runs), "", *bytes_section()]
    lines += ["", STATE_MACHINE, "", *metrics_section(runs)]
    if PROFILE.exists():
        lines += ["", "## Where the time goes", "", FLAME, "", f"![flame graph]({PROFILE.name})"]
    lines += ["", "## Targets", "", "| target | measured | verdict |", "| --- | --- | --- |"]
    lines += [f"| {target} | {measured} | {verdict} |" for target, measured, verdict in targets(runs)]
    lines += ["", LIMITS]
    REPORT.write_text("\n".join(lines) + "\n")
    print(f"wrote {REPORT.relative_to(ROOT)} and {PLOT.relative_to(ROOT)}")


def bytes_section() -> list[str]:
    """Bytes per dashboard update, measured now (in-process, a second or two) beside the figures from before."""
    script = ROOT / "bench" / "update_bytes.py"
    done = subprocess.run([sys.executable, str(script), "--markdown"], capture_output=True, text=True, check=True)
    return done.stdout.rstrip("\n").splitlines()


STATE_MACHINE = """## The state machine on the move path (issue 21)

Every write now asks the transition table; a move is checked against the session's open sliders worked out
once per session state (`SessionInfo.may_place`), and a `set` reads the session's row in its own
transaction. Measured on 2 December 2026 with `bench/harness.py --phones 500` from a checkout of e192220
(before) and of main (after), strictly alternated, 12 pairs, on this 2-core machine:

| row | CPU per message, after / before (median of 12 pairs) | quartiles | p95 before → after |
| --- | --- | --- | --- |
| 500 phones dragging (moves only) | 0.93 | 0.87 to 1.08 | 102.5 → 100.5 ms |
| 500 phones, a quarter committing (`--duty 0.25`: 1,250 moves/s, 250 sets/s) | 0.93 | 0.90 to 1.11 | 101 → 101 ms |

In-process, `Conversation.receive` on a move costs 5.09 µs before and 4.74 µs after (best of 7 runs of 200,000
calls); the session-row read a `set` adds (`participation._stored_state`) costs 17 to 20 µs, about 1 % of a
set's server cost (about 1.5 ms on SQLite). Every run was exact, no acknowledged value lost."""


METRICS = """## Metrics on the hot path (issue 26)

With `METRICS_ENABLED=1` every move, set, phone and dashboard update steps a plain integer in
`workshop/metrics.py` (the Prometheus families are built only when `/metrics` is scraped); off, each hook
is one check of a constant. `bench/metrics_cost.py` times a move's `Conversation.receive` in thread
CPU time, 100,000 calls per round, off and on alternating. Measured on 2 December 2026 on this
2-core machine while eight other engineers' test runs kept its load average at 12 to 18:

| measure | off | on | on / off |
| --- | --- | --- | --- |
| one hook alone (`metrics.moved()`, best of 7 runs of 200,000 calls) | 0.03 µs | 0.09 µs | +0.06 µs |
| a move's `receive`, 11 rounds: best / median | 4.480 / 4.639 µs | 4.518 / 4.797 µs | 1.008 / 1.034 |
| the same, 21 rounds | 4.465 / 4.691 µs | 4.515 / 4.896 µs | 1.011 / 1.044 |

The whole server CPU per message at 500 phones dragging (`bench/harness.py --phones 500`, this
machine) is 19 to 35 µs, of which the phone's `Conversation.receive` is under 5 µs (the rest is
daphne, Twisted and autobahn reading and unmasking the frame, and the dashboards' aggregates): the
0.05 to 0.2 µs the hook adds is 0.2 to 1 % of the CPU per message, inside the target of 3 %.
A set (about 1.5 ms on SQLite) and a dashboard update (a render of a few hundred µs) carry one hook
each, far below that. The paired end-to-end runs of this `make bench` follow (500 phones dragging,
embedded, three pairs in alternating order; on 3 December 2026 on a quiet machine the median on / off
was 0.986, the pairs spreading by ±4 %)."""


def metrics_section(runs: list[dict[str, Any]]) -> list[str]:
    """The hand-measured figures, then this `make bench`'s own pairs (metrics off, then on, or the other way)."""
    lines = [METRICS]
    ratios = []
    good = [r for r in runs if r.get("label", "").startswith("metrics ") and "error" not in r]
    for pair in range(1, PAIRS + 1):
        found = {r["label"]: r for r in good if r.get("pair") == pair}
        off, on = found.get("metrics off"), found.get("metrics on")
        if off and on and off.get("server_cpu_ms_per_msg") and on.get("server_cpu_ms_per_msg"):
            ratios.append((pair, off, on, on["server_cpu_ms_per_msg"] / off["server_cpu_ms_per_msg"]))
    if ratios:
        lines += [
            "",
            "This run of `make bench` (500 phones dragging, embedded):",
            "",
            "| pair | off CPU ms/msg | on CPU ms/msg | on / off | p95 off → on (ms) |",
            "| --- | --- | --- | --- | --- |",
        ]
        for pair, off, on, ratio in ratios:
            lines.append(
                f"| {pair} | {off['server_cpu_ms_per_msg']} | {on['server_cpu_ms_per_msg']} | {ratio:.3f} | "
                f"{off['lag_ms_p95']} → {on['lag_ms_p95']} |"
            )
        median = statistics.median(r for *_, r in ratios)
        lines += ["", f"Median on / off: {median:.3f} (the target: at most 1.03)."]
    return lines


FLAME = """`py-spy record` sampled the project's daphne (250 Hz, without pausing it) during the measured
10 s of 1,000 phones dragging at 10 Hz (the `profile` run of `make bench`; open the SVG in a browser
to zoom). The widest towers are daphne's own: Twisted reading the socket, autobahn parsing and
unmasking frames. The phone socket (`phone_socket.phone_socket` → `phone.Conversation.receive` →
`protocol.parse` → `runtime.Outbox.put` → `live.MemoryStore.apply_now`) is a thin slice beside
them; the dashboard's aggregate (`consumers.DashboardConsumer.send_aggregate` →
`live_view.render_aggregate`) is most of the rest."""


def cpu_pairs(runs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Project and baseline runs of 1,000 phones made right after each other: the steady series' own and the pairs."""
    good = [r for r in runs if "error" not in r and r.get("valid") and r.get("topology", "embedded") == "embedded"]

    def find(label: str, target: str, pair: int) -> dict[str, Any] | None:
        key = (label, target, 1000, pair)
        return next((r for r in good if (r["label"], r["target"], r["phones"], r.get("pair", 0)) == key), None)

    found = []
    for name, label, pair in [("steady", "steady", 0), *((str(i), "cpu pair", i) for i in range(1, PAIRS + 1))]:
        project, base = find(label, "project", pair), find(label, "baseline", pair)
        if project and base:
            found.append((name, project, base))
    return found


def pairs_table(runs: list[dict[str, Any]]) -> list[str]:
    lines = [
        "## CPU per message at 1,000 phones, paired",
        "",
        "The project and the baseline right after each other at 1,000 phones dragging (d = 1): the steady",
        "series' own runs and three pairs more. The target is judged on the median of the ratios.",
        "",
        "| pair | project CPU ms/msg | baseline CPU ms/msg | ratio | project p95 | baseline p95 (ms) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, project, base in cpu_pairs(runs):
        ratio = project["server_cpu_ms_per_msg"] / base["server_cpu_ms_per_msg"]
        lines.append(
            f"| {name} | {project['server_cpu_ms_per_msg']} | {base['server_cpu_ms_per_msg']} | {ratio:.2f} | "
            f"{project['lag_ms_p95']} | {base['lag_ms_p95']} |"
        )
    return lines


def storm_table(runs: list[dict[str, Any]]) -> list[str]:
    storms = sorted(
        (r for r in runs if r.get("label") == "storm" and "error" not in r),
        key=lambda r: (r.get("pair", 0), r["target"] != "project"),
    )
    lines = [
        "## Join storm",
        "",
        "1,000 phones open their socket and send `hello`, each at a random moment of 10 s (a hall scanning",
        "the QR code at once); the welcome time runs from opening the socket to the `welcome`.",
        "",
        "| pair | server | phones | in s | welcomed | refused | welcome p50 | p95 | p99 | max (ms) | CPU % | held |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in storms:
        refused = ", ".join(f"{code}: {n}" for code, n in r["refused"].items()) or "none"
        lines.append(
            f"| {r.get('pair', DASH)} | {r['target']} | {r['phones']} | {r['storm']} | {r['welcomed']} | {refused} | "
            f"{r['welcome_ms_p50']} | {r['welcome_ms_p95']} | {r['welcome_ms_p99']} | {r['welcome_ms_max']} | "
            f"{r['server_cpu_pct']} | {r['held']} |"
        )
    return lines


def fallback_table(runs: list[dict[str, Any]]) -> list[str]:
    found = [r for r in runs if r.get("label") == "fallback" and "error" not in r]
    lines = [
        "## HTTP fallback",
        "",
        "`bench/fallback.py`: 50 phones on plain HTTP (an event stream each, a POST per message), each",
        "placing a value every 0.5 to 1.5 s, a probe phone every 0.5 s, one daphne on the embedded default.",
        "Lag: from the probe's POST to the first dashboard aggregate that shows it; phase: from the",
        "facilitator's click to the `state` on every phone's stream.",
        "",
        "| phones | seconds | lag p50 | p95 | p99 (ms) | phase p95 | max (ms) | exact |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in found:
        lines.append(
            f"| {r['phones']} | {r['seconds']} | {r['lag_ms_p50']} | {r['lag_ms_p95']} | {r['lag_ms_p99']} | "
            f"{r['phase_ms_p95']} | {r['phase_ms_max']} | {cell(r, 'exact')} |"
        )
    return lines


def drag_table(runs: list[dict[str, Any]]) -> list[str]:
    found = [r for r in runs if r.get("label") in ("drag http", "drag socket") and "error" not in r]
    lines = [
        "## 500 phones dragging: over the HTTP fallback beside websockets",
        "",
        "`bench/fallback.py --drag`: the harness's load (every phone dragging one slider at 10 Hz, d = 1, 3 s",
        "warm-up, 10 s measured, server on core 0 and generator on core 1) over plain HTTP, as the page's",
        "transport sends it: one POST out at a time per phone on a kept-alive connection, the moves queued",
        "meanwhile folded to the newest per slider, and an event stream each. Lag as in the harness: from the",
        "probe's move to the first dashboard aggregate whose median is that value. Right after it, the same",
        "500 phones on websockets (`bench/harness.py`). KB/conn: the server's memory per open stream or socket.",
        "",
        "| transport | phones | lag p50 | p95 | p99 | max (ms) | POSTs/s | POST p50 | p95 (ms) | server CPU % | "
        "KB/conn | valid | exact | lost |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in sorted(found, key=lambda r: r["label"]):
        lines.append(
            f"| {'HTTP fallback' if r['label'] == 'drag http' else 'websocket'} | {r['phones']} | "
            + " | ".join(
                cell(r, key)
                for key in (
                    "lag_ms_p50",
                    "lag_ms_p95",
                    "lag_ms_p99",
                    "lag_ms_max",
                    "posts_per_s",
                    "post_ms_p50",
                    "post_ms_p95",
                    "server_cpu_pct",
                    "rss_per_connection_kb",
                    "valid",
                    "exact",
                    "lost_acks",
                )
            )
            + " |"
        )
    return lines


def verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "**not met**")


def targets(runs: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    good = [r for r in runs if "error" not in r]

    def find(label: str, target: str, phones: int, topology: str = "embedded") -> dict[str, Any]:
        for run in good:
            if (run.get("label"), run.get("target"), run.get("topology", "embedded"), run.get("phones")) == (
                label,
                target,
                topology,
                phones,
            ):
                return run
        return {}

    def lag(run: dict[str, Any], p95: float, p99: float | None = None) -> tuple[str, bool | None]:
        if not run:
            return DASH, None
        ok = run["lag_ms_p95"] <= p95 and (p99 is None or run["lag_ms_p99"] <= p99)
        return f"p95 {run['lag_ms_p95']} ms, p99 {run['lag_ms_p99']} ms", ok

    rows = []
    for title, run in (
        ("p95 at most 150 ms, p99 at most 400 ms: 500 phones, d = 1, embedded", find("steady", "project", 500)),
        ("the same on Redis and PostgreSQL", find("redis", "project", 500, "redis")),
    ):
        measured, ok = lag(run, 150, 400)
        rows.append((title, measured, verdict(ok)))
    two = find("two processes", "project", 500, "two")
    measured, _ok = lag(two, 150, 400)
    rows.append(
        (
            "two daphne processes on one Redis (sharing the server core): one consistent dashboard",
            f"{measured}; exact: {two.get('exact', DASH)}" if two else DASH,
            verdict(two.get("exact") is True and two.get("lost_acks") == 0 if two else None),
        )
    )
    measured, ok = lag(find("sparse", "project", 2000), 250)
    rows.append(("p95 at most 250 ms: 2,000 phones, d = 0.25", measured, verdict(ok)))

    calm = next((r for r in good if r.get("label") == "flood" and not r.get("flood")), {})
    flooded = next((r for r in good if r.get("label") == "flood" and r.get("flood")), {})
    if calm and flooded:
        ratio = flooded["lag_ms_p95"] / calm["lag_ms_p95"]
        measured = (
            f"p95 {calm['lag_ms_p95']} ms alone, {flooded['lag_ms_p95']} ms beside the flooder ({ratio - 1:+.0%}); "
            f"the flooder sent {flooded['flood_sent_per_s']}/s and was closed {flooded['flooder_closed']} times"
        )
        ok = ratio <= 1.2 and flooded["flooder_closed"] > 0
    else:
        measured, ok = DASH, None
    rows.append(
        ("a flooder at 2,000 msg/s beside 200 phones: their p95 within +20 %; it is closed", measured, verdict(ok))
    )

    measured, ok = lag(find("steady", "project", 1000), 250, 500)
    rows.append(("1,000 phones on one core, d = 1: p95 at most 250 ms, p99 at most 500 ms", measured, verdict(ok)))
    ratios = []
    for n in STEADY:
        project, baseline = find("steady", "project", n), find("steady", "baseline", n)
        if project and baseline:
            ratios.append((n, project["server_cpu_ms_per_msg"] / baseline["server_cpu_ms_per_msg"]))
    paired = [p["server_cpu_ms_per_msg"] / b["server_cpu_ms_per_msg"] for _name, p, b in cpu_pairs(runs)]
    at_1000 = statistics.median(paired) if paired else None
    measured = "at N = 1,000: " + (
        f"median {at_1000:.2f} x over {len(paired)} pairs ({', '.join(f'{r:.2f}' for r in paired)})" if paired else DASH
    )
    measured += "; the steady series: " + (", ".join(f"N {n}: {ratio:.2f} x" for n, ratio in ratios) or DASH)
    rows.append(
        (
            "CPU per message at most 1.2 x the baseline's at N = 1,000",
            measured,
            verdict(at_1000 <= 1.2 if at_1000 is not None else None),
        )
    )

    def step(label: str, target: str, topology: str, sizes: list[int], cpu: float = 0.0) -> tuple[int | None, str]:
        """The largest N before the series' first failure (p95 over 250 ms), and why the series ended."""
        held = None
        for n in sizes:
            attempts = [r for r in good if series(r) == (label, target, topology, cpu) and r.get("phones") == n]
            if not attempts:
                return held, "not run further"
            if all(failed(r) for r in attempts):
                why = "; ".join(
                    "the generator's limit" if not r.get("valid") else f"p95 {r['lag_ms_p95']} ms" for r in attempts
                )
                return held, f"{why} at {n}"
            held = n
        return held, "every size held"

    project_step, project_end = step("steady", "project", "embedded", STEADY)
    base_step, base_end = step("steady", "baseline", "embedded", STEADY)
    measured = f"project {project_step or DASH} ({project_end}), baseline {base_step or DASH} ({base_end})"
    ratio = project_step / base_step if project_step and base_step else None
    if ratio is not None:
        measured += f": {ratio:.2f} x"
    rows.append(
        (
            "step to failure (largest N with p95 at most 250 ms, d = 1) at least 0.7 x the baseline's",
            measured,
            verdict(ratio >= 0.7 if ratio is not None else None),
        )
    )

    one_step, one_end = step("scale", "project", "redis", SCALE, SCALE_CPU)
    two_step, two_end = step("scale", "project", "two", SCALE, SCALE_CPU)
    measured = f"one process {one_step or DASH} ({one_end}), two {two_step or DASH} ({two_end})"
    ratio = two_step / one_step if one_step and two_step else None
    if ratio is not None:
        measured += f": {ratio:.2f} x"
    two_runs = [r for r in good if series(r) == ("scale", "project", "two", SCALE_CPU)]
    consistent = bool(two_runs) and all(r.get("exact") and r.get("lost_acks") == 0 for r in two_runs)
    rows.append(
        (
            "two processes on two (emulated) cores behind one Redis: at least 1.7 x one process's step to failure, "
            "one consistent dashboard",
            measured + f"; exact in every two-process run: {'yes' if consistent else 'no'}",
            verdict(ratio >= 1.7 and consistent if ratio is not None else None),
        )
    )

    storms = [r for r in good if r.get("label") == "storm"]
    pairs = {}
    for run in storms:
        pairs.setdefault(run.get("pair", 0), {})[run["target"]] = run
    storm_ratios = [
        (p["project"]["welcome_ms_p95"], p["baseline"]["welcome_ms_p95"])
        for _pair, p in sorted(pairs.items())
        if {"project", "baseline"} <= p.keys()
    ]
    if storm_ratios:
        median = statistics.median(p / b for p, b in storm_ratios)
        everyone = all(r["welcomed"] == r["phones"] and not r["refused"] for r in storms if r["target"] == "project")
        measured = (
            f"welcome p95 median {median:.2f} x the baseline's over {len(storm_ratios)} pairs ("
            + ", ".join(f"{p} against {b} ms" for p, b in storm_ratios)
            + f"); every phone welcomed, none refused, in every run: {'yes' if everyone else 'no'}"
        )
        ok = median <= 2 and everyone
    else:
        measured, ok = DASH, None
    rows.append(
        (
            "a join storm of 1,000 phones in 10 s: all welcomed, no error or 4503, welcome p95 at most 2 x the "
            "baseline's",
            measured,
            verdict(ok),
        )
    )

    fallback = next((r for r in good if r.get("label") == "fallback"), {})
    measured = (
        f"lag p95 {fallback['lag_ms_p95']} ms, phase change p95 {fallback['phase_ms_p95']} ms" if fallback else DASH
    )
    ok = fallback["lag_ms_p95"] <= 500 and fallback["phase_ms_max"] <= 1000 and fallback["exact"] if fallback else None
    rows.append(
        (
            "HTTP fallback, 50 phones: a move on the projector within 500 ms at p95, phase changes within 1 s",
            measured,
            verdict(ok),
        )
    )

    dragging = next((r for r in good if r.get("label") == "drag http"), {})
    rows.append(
        (
            "HTTP fallback, 500 phones dragging at 10 Hz: a move on the projector within 500 ms at p95",
            f"lag p95 {dragging['lag_ms_p95']} ms, p99 {dragging['lag_ms_p99']} ms" if dragging else DASH,
            verdict(dragging["lag_ms_p95"] <= 500 and dragging.get("exact") is True if dragging else None),
        )
    )

    idle = sorted(
        (r for r in good if r.get("label") == "idle" and r.get("target") == "project"), key=lambda r: r["phones"]
    )
    measured = ", ".join(f"N {r['phones']}: {r['rss_per_connection_kb']} KB" for r in idle) or DASH
    rows.append(
        (
            "at most 50 KB RSS per idle connection",
            measured,
            verdict(all(r["rss_per_connection_kb"] <= 50 for r in idle) if idle else None),
        )
    )
    held = find("idle", "project", 5000)
    rows.append(
        ("5,000 idle phones held", str(held.get("held", DASH)), verdict(held.get("held") == 5000 if held else None))
    )
    exact = all(r.get("exact", True) for r in good if not r.get("idle"))
    lost = sum(r.get("lost_acks") or 0 for r in good)
    rows.append(
        (
            "exact in every run, no acknowledged set lost",
            f"exact: {'all' if exact else 'not all'}, lost: {lost}",
            verdict(exact and lost == 0),
        )
    )
    return rows


def plot(runs: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (axes, cost) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=110)
    lines = [
        ("steady", "project", "embedded", "#154273", "o", "project, one core"),
        ("steady", "baseline", "embedded", "#9aa5b1", "o", "baseline, one core"),
        ("scale", "project", "redis", "#39870c", "^", "project, 1 process, 30 % of a core, Redis"),
        ("scale", "project", "two", "#e17000", "v", "project, 2 processes, 30 % of a core each"),
    ]
    for label, target, topology, colour, marker, title in lines:
        # Per size the run that counts: of two attempts, the one with the lower p95.
        best: dict[int, dict[str, Any]] = {}
        for r in runs:
            if (
                (r.get("label"), r.get("target"), r.get("topology", "embedded")) == (label, target, topology)
                and r.get("lag_ms_p95") is not None
                and r.get("valid")
                and (r["phones"] not in best or r["lag_ms_p95"] < best[r["phones"]]["lag_ms_p95"])
            ):
                best[r["phones"]] = r
        points = sorted((n, r["lag_ms_p95"], r["server_cpu_ms_per_msg"]) for n, r in best.items())
        if points:
            n, p95, cpu = zip(*points, strict=True)
            axes.plot(n, p95, marker=marker, color=colour, label=title)
            if label == "steady":
                cost.plot(n, cpu, marker=marker, color=colour, label=title)
    axes.axhline(250, color="#a4101f", linestyle="--", linewidth=1, label="250 ms (step to failure)")
    axes.set_xlabel("phones dragging at 10 Hz (d = 1)")
    axes.set_ylabel("p95 lag, move → dashboard (ms)")
    axes.set_yscale("log")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    cost.set_xlabel("phones dragging at 10 Hz (d = 1)")
    cost.set_ylabel("server CPU per message (ms)")
    cost.set_ylim(bottom=0)
    cost.grid(True, alpha=0.3)
    cost.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(PLOT)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--report", action="store_true", help="only regenerate the report")
    parser.add_argument("--only", action="append", help="run only scenarios with this label (repeatable)")
    options = parser.parse_args()
    if not options.report:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        stopped: set[tuple[Any, ...]] = set()
        for spec in SUITE:
            if options.only and spec["label"] not in options.only:
                continue
            if series(spec) in stopped:
                continue  # this series failed at a smaller N: its step to failure is found
            stepping = spec["label"] in ("steady", "scale") and spec["phones"] >= STEP_FROM.get(spec["label"], 0)
            # A size fails a series only when a second run fails too: one run can meet a busy moment of
            # this shared machine. Both attempts are kept, the same rule holds for project and baseline.
            for attempt in (1, 2) if stepping else (1,):
                line = {**run_one(spec), "attempt": attempt}
                print(json.dumps(line), flush=True)
                with RESULTS.open("a") as out:
                    out.write(json.dumps(line) + "\n")
                if not failed(line):
                    break
            else:
                if stepping:
                    stopped.add(series(spec))
    report()


if __name__ == "__main__":
    main()
