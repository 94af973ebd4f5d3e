"""Real daphne processes on loopback for tests that cross a process boundary."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from bench.local import ROOT, Daphne, free_port, local_env

base_env = local_env
__all__ = ["base_env", "daphne", "free_port", "manage", "new_prefix"]


def manage(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


@contextmanager
def daphne(env: dict[str, str], port: int | None = None) -> Iterator[str]:
    """A daphne process; yields its base URL, and fails the test if it logged a traceback."""
    server = Daphne(env, port=port)
    try:
        yield server.url
    finally:
        server.stop()
        assert not server.tracebacks, "daphne logged a traceback:\n" + "".join(server.output)


def new_prefix() -> str:
    return f"test-{secrets.token_hex(4)}"
