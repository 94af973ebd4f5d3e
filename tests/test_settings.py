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


@pytest.mark.slow  # a subprocess, real PDFs or real password hashes: over a second
def test_check_deploy_passes_with_production_like_settings():
    result = run_check(SECRET_KEY="x" * 60 + "production-like-secret", DEBUG="0", ALLOWED_HOSTS="workshop.example.nl")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DEBUG", "perhaps", "DEBUG must be a boolean"),
        ("DASHBOARD_TICK_MS", "fast", "DASHBOARD_TICK_MS must be an integer"),
        ("DASHBOARD_TICK_MS", "1", "DASHBOARD_TICK_MS must be at least 10"),
        ("TRUSTED_PROXIES", "10.0.0.1,proxy.internal", "TRUSTED_PROXIES must be comma-separated IP addresses"),
        ("TRUSTED_PROXIES", "10.0.0.0/33", "TRUSTED_PROXIES must be comma-separated IP addresses"),
        ("MAX_REQUEST_BYTES", "1m", "MAX_REQUEST_BYTES must be an integer"),
        ("DATABASE_POOLER", "pgpool", "DATABASE_POOLER must be empty or pgbouncer"),
    ],
)
def test_a_bad_environment_value_fails_loudly(name, value, message):
    result = run_check(**{name: value})
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize("path", ["Procfile", "Makefile", "deploy/schuifoefening@.service"])
def test_every_way_of_running_daphne_sets_the_message_size_and_keepalive_limits(path):
    from tests.servers import DAPHNE_LIMITS

    text = (ROOT / path).read_text().replace("\\\n", " ")
    lines = [line for line in text.splitlines() if "daphne --bind" in line]
    assert lines
    for line in lines:
        words = line.split()
        pairs = {(words[i], words[i + 1]) for i in range(len(words) - 1)}
        assert set(zip(DAPHNE_LIMITS[::2], DAPHNE_LIMITS[1::2], strict=True)) <= pairs, line


def test_start_up_refuses_debug_off_without_a_secret_key():
    result = run_check(DEBUG="0", SECRET_KEY="", ALLOWED_HOSTS="workshop.example.nl")
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set when DEBUG is off" in result.stderr


@pytest.mark.slow  # a subprocess, real PDFs or real password hashes: over a second
def test_development_mode_runs_without_a_secret_key():
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**clean, "DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_trusted_proxies_take_addresses_and_networks():
    result = subprocess.run(
        [sys.executable, "-c", "from config import settings; print(settings.TRUSTED_PROXIES)"],
        cwd=ROOT,
        env={**os.environ, "TRUSTED_PROXIES": "127.0.0.1, 10.1.0.0/16,::1", "SECRET_KEY": "x" * 50},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "IPv4Network('127.0.0.1/32')" in result.stdout and "IPv4Network('10.1.0.0/16')" in result.stdout
    assert "IPv6Network('::1/128')" in result.stdout


def test_make_run_keeps_generating_a_secret_key_and_the_deploy_check_sets_one():
    makefile = (ROOT / "Makefile").read_text()
    run = makefile[makefile.index("\nrun:") : makefile.index("\ntest:")]
    assert "run: install .secret_key" in run and "SECRET_KEY=$${SECRET_KEY:-$$(cat .secret_key)}" in run
    deploy = makefile[makefile.index("\ncheck-deploy:") :]
    assert "SECRET_KEY=" in deploy.split("\n\n")[0]
