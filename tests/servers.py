"""Real servers on loopback, shared by the tests and the benchmark: daphne processes, a Redis of
a test's own, and a TCP link that can be cut.

The benchmark (bench/) imports from here; nothing in tests/ imports from bench/.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
READY_LINE = "Listening on TCP address"
# The limits every daphne runs with (Procfile, Makefile, deploy/schuifoefening@.service): a small
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
from workshop import session_control
from workshop.models import Exercise
user, _ = User.objects.get_or_create(username="load", defaults={"is_superuser": True, "is_staff": True})
exercise = Exercise.objects.filter(slug="wijkgericht-werken").order_by("-version").first()
session = session_control.create_session(facilitator=user, exercise=exercise, title="Load")
session_control.start_positioning(session=session)
client = Client()
client.force_login(user)
print(session.code, client.cookies["sessionid"].value)
"""

__all__ = [
    "DAPHNE_LIMITS",
    "ROOT",
    "SESSION_SETUP",
    "CuttableLink",
    "Daphne",
    "RedisServer",
    "base_env",
    "daphne",
    "free_port",
    "local_env",
    "manage",
    "new_prefix",
]


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
        # The phones and the benchmark open sockets with this Origin whatever port daphne is on.
        CSRF_TRUSTED_ORIGINS="http://127.0.0.1",
        PYTHONUNBUFFERED="1",
    )
    # DEBUG=0 refuses to start without a key; a loopback process needs no secret one.
    env.setdefault("SECRET_KEY", "loopback-only-insecure-key-for-local-test-and-benchmark-processes")
    env.update(overrides)
    return env


base_env = local_env


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def new_prefix() -> str:
    return f"test-{secrets.token_hex(4)}"


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
        command: Sequence[str] | None = None,
    ) -> None:
        """`command` replaces the whole daphne command line (a deployment's own); it must listen on `port`."""
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.output: list[str] = []
        self.printed = threading.Condition()
        self.process = subprocess.Popen(
            list(command)
            if command is not None
            else [
                sys.executable,
                "-m",
                module,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--verbosity",
                "0",
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
        """Tracebacks daphne printed, less those of channels-redis's own background clean-up task,
        which asyncio prints when Redis restarts under it (not our code; the socket recovers)."""
        text = "".join(self.output)
        theirs = text.count("coro=<RedisChannelLayer._clean_receive_backup()")
        # Each of theirs is a chained exception: two "Traceback" headers.
        return max(0, text.count("Traceback") - 2 * theirs)

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


@contextmanager
def daphne(env: dict[str, str], port: int | None = None) -> Iterator[str]:
    """A daphne process; yields its base URL, and fails the test if it logged a traceback."""
    server = Daphne(env, port=port)
    try:
        yield server.url
    finally:
        server.stop()
        assert not server.tracebacks, "daphne logged a traceback:\n" + "".join(server.output)


class RedisServer:
    """A Redis of the test's own, so that it can be restarted and stalled (DEBUG SLEEP)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--bind", "127.0.0.1", "--port", str(self.port)),
                *("--save", "", "--appendonly", "no", "--enable-debug-command", "yes"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if "Ready to accept connections" in line:
                break
        else:
            raise RuntimeError("redis-server did not start")
        threading.Thread(target=self.process.stdout.read, daemon=True).start()  # keep the pipe drained

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def stall(self, seconds: float) -> None:
        import redis

        redis.Redis(port=self.port, socket_timeout=seconds + 10).execute_command("DEBUG", "SLEEP", seconds)


class CuttableLink:
    """A TCP link to a server that the test can cut: open connections are reset and new ones refused."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self._call(self._listen())

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port)

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, upstream_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.transport.abort()
                self.writers.discard(sink)

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    def cut(self) -> None:
        async def cut() -> None:
            assert self.server is not None
            self.server.close()
            for writer in list(self.writers):
                writer.transport.abort()
            self.writers.clear()

        self._call(cut())

    def restore(self) -> None:
        self._call(self._listen())

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
