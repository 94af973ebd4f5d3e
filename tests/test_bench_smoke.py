"""The CI smoke run of the load benchmark: 50 phones for 10 s against a real daphne."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.bench


def test_fifty_phones_for_ten_seconds_are_exact_and_lose_nothing(figure):
    result = subprocess.run(
        [sys.executable, "bench/harness.py", "--phones", "50", "--seconds", "10", "--label", "ci-smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout.strip().splitlines()[-1])
    figure(
        f"bench smoke (50 phones, 10 s): lag p50 {run['lag_ms_p50']} ms, p95 {run['lag_ms_p95']} ms, "
        f"p99 {run['lag_ms_p99']} ms, "
        f"{run['server_cpu_ms_per_msg']} ms CPU/msg, exact {run['exact']}, lost {run['lost_acks']}"
    )
    assert run["exact"] is True
    assert run["lost_acks"] == 0
    assert run["server_tracebacks"] == 0
    assert run["probe_samples"] > 50
    assert run["lag_ms_p95"] < 1000  # loose: CI machines vary
