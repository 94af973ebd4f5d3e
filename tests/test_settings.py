"""Production settings are safe, and bad environment values fail loudly."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def run_check(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECURE_SSL_REDIRECT", "SECURE_COOKIES"}}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_passes_with_production_like_settings():
    result = run_check(SECRET_KEY="x" * 60 + "production-like-secret", DEBUG="0", ALLOWED_HOSTS="workshop.example.nl")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DEBUG", "perhaps", "DEBUG must be a boolean"),
        ("DASHBOARD_TICK_MS", "fast", "DASHBOARD_TICK_MS must be an integer"),
        ("DASHBOARD_TICK_MS", "1", "DASHBOARD_TICK_MS must be at least 10"),
    ],
)
def test_a_bad_environment_value_fails_loudly(name, value, message):
    result = run_check(**{name: value})
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize("path", ["Procfile", "Makefile", "docs/deployment.md"])
def test_every_way_of_running_daphne_sets_the_message_size_and_keepalive_limits(path):
    from tests.servers import DAPHNE_LIMITS

    text = (ROOT / path).read_text().replace("\\\n", " ")
    lines = [line for line in text.splitlines() if "daphne --bind" in line]
    assert lines
    for line in lines:
        words = line.split()
        pairs = {(words[i], words[i + 1]) for i in range(len(words) - 1)}
        assert set(zip(DAPHNE_LIMITS[::2], DAPHNE_LIMITS[1::2], strict=True)) <= pairs, line
