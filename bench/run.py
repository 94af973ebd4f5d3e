"""`make bench`: run the benchmark scenarios, append JSON lines, regenerate docs/performance.md.

python bench/run.py            # the full suite (about 15 minutes on 2 cores)
python bench/run.py --report   # only regenerate the report from bench/results/runs.jsonl
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "runs.jsonl"
REPORT = ROOT / "docs" / "performance.md"
PLOT = ROOT / "docs" / "performance.png"

STEADY = [100, 250, 500, 750, 1000, 1250, 1500, 1750, 2000, 2500]
# Above this, a steady series stops at its first failing step (p95 over 250 ms or an invalid run).
STEP_FROM = {"steady": 750, "scale": 0}
STEP_LIMIT_MS = 250
# "More cores": each server process gets half the server core (a CPU quota), so one process of half a
# core can be set against two of half a core each while the generator keeps its own core (2 cores here).
SCALE = [150, 200, 250, 300, 350, 400, 450, 500, 600, 700, 800]
PROFILE = ROOT / "docs" / "performance-flame.svg"
SUITE: list[dict[str, Any]] = [
    *({"label": "steady", "target": t, "phones": n} for t in ("project", "baseline") for n in STEADY),
    *({"label": "scale", "target": "project", "topology": "redis", "cpu": 0.5, "phones": n} for n in SCALE),
    *({"label": "scale", "target": "project", "topology": "two", "cpu": 0.5, "phones": n} for n in SCALE),
    *({"label": "storm", "target": t, "phones": 1000, "storm": 10.0} for t in ("project", "baseline")),
    {"label": "fallback", "target": "project", "phones": 50, "script": "fallback.py", "seconds": 30},
    *({"label": "sparse", "target": t, "phones": 2000, "duty": 0.25} for t in ("project", "baseline")),
    {"label": "burst", "target": "project", "phones": 500, "burst": True},
    # 200 phones alone, then beside one socket flooding 2,000 moves a second.
    *({"label": "flood", "target": "project", "phones": 200, "flood": f} for f in (0, 2000)),
    {"label": "redis", "target": "project", "topology": "redis", "phones": 500},
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
    for key, value in options.items():
        if value is True:
            args.append(f"--{key}")
        else:
            args += [f"--{key}", str(value)]
    started = time.time()
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if result.returncode:
        return {**spec, "error": result.stderr.strip().splitlines()[-1] if result.stderr else "failed"}
    line = {**json.loads(result.stdout.strip().splitlines()[-1]), **{k: v for k, v in spec.items() if k != "script"}}
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
        )
        newest[key] = run
    return list(newest.values())


DASH = "\u2013"
COLUMNS = [
    ("scenario", "label"),
    ("server", "target"),
    ("topology", "topology"),
    ("phones", "phones"),
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
(the project batches moves every 50 ms and sends at most one aggregate per 100 ms). The
baseline (`bench/baseline.py`) is the same protocol and statistics as a raw ASGI app on daphne,
without Channels and Django. A run is valid only if the generator stayed under 85 % CPU and sent
on schedule (p99 send lag at most 20 ms); `exact` means the final aggregate equalled the truth
from every phone's last value; `lost` counts acknowledged `set`s missing from the database.
The dashboard confirms every aggregate with `seen`, as the page does. The `flood` rows run 200
phones alone, then beside one abusive socket sending 2,000 moves a second that comes straight
back each time the server closes it.

Steady series run upward and stop at their first failing size (p95 over 250 ms, or a run the
generator could not keep on schedule): the last size that held is the **step to failure**. The
`scale` rows set one daphne process against two, each process held to half of the server core
by a CPU quota (cgroup `cpu.cfs_quota_us`, 5 ms per 10 ms), on PostgreSQL and one Redis: on this
2-core machine that is how "two cores" can be measured while the generator keeps a core of its
own. `Redis cmds/s` counts every command Redis ran (those inside our Lua batches included) and
`PG xacts/s` PostgreSQL's transactions, both server-wide during the measured window. Server and
baseline run with the same collector settings (`gc.freeze()` after start-up, first threshold
50,000) and the same SQLite settings (WAL, `synchronous=NORMAL`); the baseline, like the
project, stores each new participant before its `welcome`.
"""

LIMITS = """## What limits it

- **The event loop of one process, and little of it is ours.** A phone's socket is a plain ASGI
  app (`phone_socket.py`), not a Channels consumer: a move is read, parsed with one shared JSON
  decoder, checked and put in the outbox without a task, a reply or a settings lookup. At
  1,000 phones the project spends 1.11 times the raw-ASGI baseline's CPU per message (the
  Channels consumer cost 1.23 times and saturated the core at 1,000 phones, p95 2.7 s). The flame
  graph shows why the rest is hard to win: most of the time is daphne's own (Twisted reading,
  autobahn unmasking and parsing frames), which the baseline pays too.
- **Where the two part.** The project batches moves into the live store every 50 ms and renders
  the dashboard's aggregate (statistics, profiles and HTML) at most ten times a second; the
  baseline sends a JSON tick. Near a full core the loop queues behind those, so the project's lag
  passes 250 ms at 1,000 phones (p95 137 to 258 ms over four runs on this machine) while the
  baseline holds 2,000: the step to failure is 0.38 to 0.5 times the baseline's, short of the 0.7
  the issue asks. Closing it would take the aggregate off the phones' loop (a process of its
  own for dashboards) or a leaner server than daphne for the phones.
- **More cores scale.** Phones share nothing but Redis and PostgreSQL: two processes of half a
  core each carried 2.0 times one process's phones, on one consistent dashboard. A session's
  events reach a process's phones through one relay channel, not one channel per phone.
- **Joining.** A hello costs a participant row in the database (as the baseline's now does) and
  is the one database call on the way: the session is shared per process and kept current by
  the relay, the join guard needs no thread for an open session, SQLite stays open in WAL mode
  without an fsync per commit, the URLconf is loaded at start, and the collector leaves the
  start-up heap alone (`gc.freeze()`) and runs less often (a full collection stopped every socket
  for 50 to 150 ms at 1,000 phones); phones skip channels' auth stack (two trips to the database
  thread per socket). Over five paired runs of the storm on this machine the project's welcome p95
  was 12 to 22 ms against the baseline's 7 to 9 ms: 1.6 to 2.4 times, median 1.9, so the issue's
  2 times holds in three of five. What remains is the Django ORM's insert and the trip to the
  database thread, and daphne's handshake, which both pay.
- **Memory per phone** is about 33 KB (daphne's connection, the scope, one `PhoneSocket` and its
  conversation); the exercise and the session are shared per process.
- **Commits.** Every `set` is one database transaction, and its value in the live store,
  before its `ack`. On SQLite they are serialised; for a congress use PostgreSQL.
- **The generator** stays within its limits in every row marked valid; the baseline's series
  ends at 2,500 phones because the generator could no longer keep its schedule there."""


def cell(run: dict[str, Any], key: str) -> str:
    value = run.get(key, "embedded" if key == "topology" else None)
    if key == "valid" and value is False:
        return "no: " + "; ".join(run.get("invalid_because", []))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return DASH if value is None else str(value)


def report() -> None:
    runs = latest_runs()
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
        tabled, key=lambda r: (ORDER[r["label"]], r.get("topology", ""), r.get("phones", 0), r.get("target"))
    ):
        if "error" in run:
            lines.append(f"| {run.get('label')} | {run.get('target')} | error: {run['error']} |")
        else:
            lines.append("| " + " | ".join(cell(run, key) for _, key in COLUMNS) + " |")
    lines += ["", *storm_table(runs), "", *fallback_table(runs)]
    if PROFILE.exists():
        lines += ["", "## Where the time goes", "", FLAME, "", f"![flame graph]({PROFILE.name})"]
    lines += ["", "## Targets", "", "| target | measured | verdict |", "| --- | --- | --- |"]
    lines += [f"| {target} | {measured} | {verdict} |" for target, measured, verdict in targets(runs)]
    lines += ["", LIMITS]
    REPORT.write_text("\n".join(lines) + "\n")
    print(f"wrote {REPORT.relative_to(ROOT)} and {PLOT.relative_to(ROOT)}")


FLAME = """`py-spy record` sampled the project's daphne (250 Hz, without pausing it) during the measured
10 s of 1,000 phones dragging at 10 Hz (the `profile` run of `make bench`; open the SVG in a browser
to zoom). The widest towers are daphne's own: Twisted reading the socket, autobahn parsing and
unmasking frames. The phone socket (`phone_socket.phone_socket` → `phone.Conversation.receive` →
`protocol.parse` → `runtime.Outbox.put`) is a thin slice beside them; the 50 ms batch into the live
store and the dashboard's aggregate (`live_view.render_aggregate`) are the rest."""


def storm_table(runs: list[dict[str, Any]]) -> list[str]:
    storms = sorted((r for r in runs if r.get("label") == "storm" and "error" not in r), key=lambda r: r["target"])
    lines = [
        "## Join storm",
        "",
        "1,000 phones open their socket and send `hello`, each at a random moment of 10 s (a hall scanning",
        "the QR code at once); the welcome time runs from opening the socket to the `welcome`.",
        "",
        "| server | phones | window s | welcomed | refused | welcome p50 | p95 | p99 | max (ms) | CPU % | held |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in storms:
        refused = ", ".join(f"{code}: {n}" for code, n in r["refused"].items()) or "none"
        lines.append(
            f"| {r['target']} | {r['phones']} | {r['storm']} | {r['welcomed']} | {refused} | "
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
    measured = ", ".join(f"N {n}: {ratio:.2f} x" for n, ratio in ratios) or DASH
    at_1000 = dict(ratios).get(1000)
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
            run = next((r for r in good if series(r) == (label, target, topology, cpu) and r.get("phones") == n), None)
            if run is None:
                return held, "not run further"
            if not run.get("valid"):
                return held, f"the generator's limit at {n}"
            if run["lag_ms_p95"] > STEP_LIMIT_MS:
                return held, f"p95 {run['lag_ms_p95']} ms at {n}"
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

    one_step, one_end = step("scale", "project", "redis", SCALE, 0.5)
    two_step, two_end = step("scale", "project", "two", SCALE, 0.5)
    measured = f"one process {one_step or DASH} ({one_end}), two {two_step or DASH} ({two_end})"
    ratio = two_step / one_step if one_step and two_step else None
    if ratio is not None:
        measured += f": {ratio:.2f} x"
    two_runs = [r for r in good if series(r) == ("scale", "project", "two", 0.5)]
    consistent = bool(two_runs) and all(r.get("exact") and r.get("lost_acks") == 0 for r in two_runs)
    rows.append(
        (
            "two processes on two (half-)cores behind one Redis: at least 1.7 x one process's step to failure, "
            "one consistent dashboard",
            measured + f"; exact in every two-process run: {'yes' if consistent else 'no'}",
            verdict(ratio >= 1.7 and consistent if ratio is not None else None),
        )
    )

    storms = {r["target"]: r for r in good if r.get("label") == "storm"}
    if "project" in storms and "baseline" in storms:
        p, b = storms["project"], storms["baseline"]
        measured = (
            f"welcome p95 {p['welcome_ms_p95']} ms against the baseline's {b['welcome_ms_p95']} ms "
            f"({p['welcome_ms_p95'] / b['welcome_ms_p95']:.1f} x); welcomed {p['welcomed']}, refused: "
            f"{p['refused'] or 'none'}"
        )
        ok = p["welcome_ms_p95"] <= 2 * b["welcome_ms_p95"] and p["welcomed"] == p["phones"] and not p["refused"]
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
        ("scale", "project", "redis", "#39870c", "^", "project, 1 process, half a core, Redis"),
        ("scale", "project", "two", "#e17000", "v", "project, 2 processes, half a core each"),
    ]
    for label, target, topology, colour, marker, title in lines:
        points = sorted(
            (r["phones"], r["lag_ms_p95"], r["server_cpu_ms_per_msg"])
            for r in runs
            if (r.get("label"), r.get("target"), r.get("topology", "embedded")) == (label, target, topology)
            and r.get("lag_ms_p95") is not None
            and r.get("valid")
        )
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
            line = run_one(spec)
            if (
                spec["label"] in ("steady", "scale")
                and spec["phones"] >= STEP_FROM.get(spec["label"], 0)
                and failed(line)
            ):
                stopped.add(series(spec))
            print(json.dumps(line), flush=True)
            with RESULTS.open("a") as out:
                out.write(json.dumps(line) + "\n")
    report()


if __name__ == "__main__":
    main()
