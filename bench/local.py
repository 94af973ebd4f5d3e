"""Real daphne processes on loopback, shared by the benchmark and the tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY_LINE = "Listening on TCP address"
# The limits every daphne runs with (Procfile, Makefile, docs/deployment.md): a small
# incoming message size, and keepalive pings that close half-open sockets.
DAPHNE_LIMITS = (
    *("--websocket-max-message-size", "131072", "--websocket-max-frame-size", "131072"),
    *("--ping-interval", "20", "--ping-timeout", "30"),
)


# `manage.py shell -c` this: a session in round 1 with every slider open, and the
# facilitator's session cookie for its dashboard. Prints "<code> <cookie>".
SESSION_SETUP = """
from django.contrib.auth.models import User
from django.test import Client
from workshop import services
from workshop.models import Exercise
user, _ = User.objects.get_or_create(username="load", defaults={"is_superuser": True, "is_staff": True})
exercise = Exercise.objects.filter(slug="wijkgericht-werken").order_by("-version").first()
session = services.create_session(facilitator=user, exercise=exercise, title="Load")
services.start_positioning(session=session)
client = Client()
client.force_login(user)
print(session.code, client.cookies["sessionid"].value)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def local_env(**overrides: str) -> dict[str, str]:
    """The environment of a production-like process on plain HTTP on loopback, embedded unless overridden."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "REDIS_PREFIX"}}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="0",
        SECURE_SSL_REDIRECT="0",
        SECURE_COOKIES="0",
        SECURE_HSTS_SECONDS="0",
        MANIFEST_STATIC="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        # The fleet and the benchmark open sockets with this Origin whatever port daphne is on.
        CSRF_TRUSTED_ORIGINS="http://127.0.0.1",
        PYTHONUNBUFFERED="1",
    )
    # DEBUG=0 refuses to start without a key; a loopback process needs no secret one.
    env.setdefault("SECRET_KEY", "loopback-only-insecure-key-for-local-test-and-benchmark-processes")
    env.update(overrides)
    return env


class Daphne:
    """A daphne process; the constructor returns once it says it is listening."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        app: str = "config.asgi:application",
        port: int | None = None,
        core: int | None = None,
        args: Sequence[str] = (),
        module: str = "daphne",
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.output: list[str] = []
        self.printed = threading.Condition()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                module,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--access-log",
                os.devnull,
                *DAPHNE_LIMITS,
                *args,
                app,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if core is not None:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(self.process.pid, {core})
        ready = threading.Event()

        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                with self.printed:
                    self.output.append(line)
                    self.printed.notify_all()
                if READY_LINE in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(60):
            self.stop()
            raise RuntimeError("daphne did not start:\n" + "".join(self.output))

    def line_after(self, seen: int, prefix: str, timeout: float = 30) -> str:
        """The first line starting with prefix among those daphne printed after the first `seen`."""
        with self.printed:
            if not self.printed.wait_for(lambda: any(x.startswith(prefix) for x in self.output[seen:]), timeout):
                raise TimeoutError(f"daphne printed no line starting with {prefix!r}")
            return next(x for x in self.output[seen:] if x.startswith(prefix))

    @property
    def tracebacks(self) -> int:
        return sum(1 for line in self.output if "Traceback" in line)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """As a crash: no shutdown at all."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
