"""The scheduled jobs, run from deploy/'s unit files as systemd would run them, on a real PostgreSQL database.

systemd itself does not run here, so the test does what it would do with each `.service` and nothing more:
it reads the `EnvironmentFile` as systemd reads it, starts from the small environment systemd gives every
service (not the test's own), changes to the `WorkingDirectory` and runs the `ExecStart` command line. Only
the checkout's path (/srv/schuifoefening) and the environment file's path are replaced, and in the
environment file only the values its "test:" notes name. The data: a session idle for 13 hours (closed and
archived), a session closed 31 days ago (its people deleted, its archive kept), an archive from six years ago
(deleted), and a busy session, a recently closed one and a recent archive that stay as they are.

The old cron lines (no environment file) exit 1: with DEBUG=0 and no SECRET_KEY the settings refuse to load.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import need, port_open
from tests.servers import ROOT, new_prefix

pytestmark = [pytest.mark.services, pytest.mark.slow]

DEPLOY = ROOT / "deploy"
CHECKOUT = "/srv/schuifoefening"
ENV_PATH = "/etc/schuifoefening/env"
JOBS = {
    "schuifoefening-archive-idle": ("archive_idle_sessions", "*-*-* *:15:00"),
    "schuifoefening-purge-archives": ("purge_archives", "*-*-* 03:30:00"),
}
# What systemd puts in every system service's environment before EnvironmentFile= (systemd.exec(5),
# "Environment variables in spawned processes"): nothing of the shell that started the test.
SYSTEMD_BASE = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
    "LANG": "C.UTF-8",
    "USER": "schuifoefening",
    "LOGNAME": "schuifoefening",
    "HOME": CHECKOUT,
    "SHELL": "/usr/sbin/nologin",
}
# What cron gives a job (cron(8)): no environment file unless the line sources one.
CRON_BASE = {"PATH": "/usr/bin:/bin", "SHELL": "/bin/sh", "HOME": "/root", "LOGNAME": "root"}
# docs/deployment.md before issue 26: the jobs without the environment file.
OLD_CRON_LINES = [
    "cd /srv/schuifoefening && .venv/bin/python manage.py archive_idle_sessions",
    "cd /srv/schuifoefening && .venv/bin/python manage.py purge_archives",
]

SETUP = """
import json, secrets
from datetime import date, timedelta
from django.contrib.auth.models import User
from django.utils import timezone
from workshop import closing, session_control
from workshop.models import Archive, Exercise, Participant, Position, Session

user, _ = User.objects.get_or_create(username="jobs")
exercise = Exercise.objects.filter(slug="wijkgericht-werken").order_by("-version").first()
slider = exercise.sliders.order_by("order").first()
now = timezone.now()

def with_people(title):
    session = session_control.create_session(facilitator=user, exercise=exercise, title=title)
    session_control.start_positioning(session=session)
    for value in (10, 50, 90):
        person = Participant.objects.create(session=session, token_hash=secrets.token_hex(32))
        Position.objects.create(participant=person, slider=slider, round=1, value=value)
    return session

idle, busy, expired, recent = (with_people(t) for t in ("Idle", "Busy", "Expired", "Recent"))
Session.objects.filter(pk=idle.pk).update(last_activity=now - timedelta(hours=13))
Position.objects.filter(participant__session=idle).update(updated_at=now - timedelta(hours=13))
for session in (expired, recent):
    closing.close_session(session=session)
Session.objects.filter(pk=expired.pk).update(closed_at=now - timedelta(days=31))
old = Archive.objects.create(exercise=exercise, month=date(now.year - 6, now.month, 1), participants=3, rounds=1)
print(json.dumps({"idle": idle.pk, "busy": busy.pk, "expired": expired.pk, "recent": recent.pk, "old": old.pk}))
"""

STATE = """
import json
from workshop.models import Archive, Session
print(json.dumps({
    "sessions": {s.pk: [s.status, s.participants.count()] for s in Session.objects.all()},
    "archived": sorted(Archive.objects.exclude(session=None).values_list("session_id", flat=True)),
    "archives": sorted(Archive.objects.values_list("pk", flat=True)),
}))
"""


def unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file's sections and settings as systemd parses them: `#`/`;` comments, a trailing backslash
    continues the line, a setting may repeat (each value is kept, in order)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    logical = re.sub(r"\\\n", " ", path.read_text())
    for raw in logical.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path.name}: a setting outside a section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a setting: {line}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(section: dict[str, list[str]], key: str) -> str:
    (value,) = section[key]
    return value


def environment_file(path: Path) -> dict[str, str]:
    """systemd's EnvironmentFile= reading (systemd.exec(5)): KEY=VALUE lines, `#` and `;` comments,
    whitespace around the value dropped, one pair of enclosing quotes removed."""
    values = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key.strip()), f"not KEY=VALUE: {line}"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def jobs_environment_file(tmp_path: Path, database_url: str) -> Path:
    """deploy/env.example with its "test:" values replaced (a secret key of its own, the database, the
    Redis key prefix, plain HTTP), every other line as it is."""
    replaced = {
        "SECRET_KEY": "jobs-test-" + "k" * 50,
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "REDIS_PREFIX": new_prefix(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": "",
        "PUBLIC_URL": "http://127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "SECURE_HSTS_SECONDS": "0",
    }
    lines = []
    for line in (DEPLOY / "env.example").read_text().splitlines():
        key = line.partition("=")[0]
        lines.append(f"{key}={replaced[key]}" if not line.startswith("#") and key in replaced else line)
    path = tmp_path / "env"
    path.write_text("\n".join(lines) + "\n")
    values = environment_file(path)
    assert values["DEBUG"] == "0" and values["SECRET_KEY"] == replaced["SECRET_KEY"]
    return path


def local(text: str, env_path: Path) -> str:
    return text.replace(ENV_PATH, str(env_path)).replace(CHECKOUT, str(ROOT))


def run_service(name: str, env_path: Path) -> subprocess.CompletedProcess[str]:
    """What `systemctl start NAME.service` does, for what these units use."""
    service = unit(DEPLOY / f"{name}.service")["Service"]
    assert one(service, "Type") == "oneshot"
    env = dict(SYSTEMD_BASE)
    for path in service.get("EnvironmentFile", []):
        optional = path.startswith("-")
        path = Path(local(path.removeprefix("-"), env_path))
        if path.exists() or not optional:
            env.update(environment_file(path))
    cwd = local(one(service, "WorkingDirectory"), env_path)
    command = one(service, "ExecStart")
    assert command[0] not in "-@+!:|" and "$" not in command and "%" not in command, command
    argv = [local(arg, env_path) for arg in shlex.split(command)]
    assert Path(argv[0]).is_absolute() and Path(argv[0]).exists(), argv[0]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def run_cron(line: str, env_path: Path) -> subprocess.CompletedProcess[str]:
    """What cron does with a crontab line's command: /bin/sh -c with cron's environment."""
    return subprocess.run(
        ["/bin/sh", "-c", local(line, env_path)], cwd="/", env=CRON_BASE, capture_output=True, text=True, timeout=300
    )


def manage(env_path: Path, *args: str) -> str:
    env = {**SYSTEMD_BASE, **environment_file(env_path)}
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def jobs_database() -> str:
    """A database of its own (named after the run's DATABASE_URL, so parallel runs do not share one)."""
    need(port_open("127.0.0.1", 5432), "PostgreSQL is not running on 127.0.0.1:5432")
    import psycopg

    base = urlsplit(os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/schuif")
    name = f"{base.path.lstrip('/') or 'schuif'}_jobs"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgres://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepared(tmp_path: Path, database_url: str) -> tuple[Path, dict[str, int]]:
    env_path = jobs_environment_file(tmp_path, database_url)
    # As docs/deployment.md deploys: migrate once with the environment file.
    manage(env_path, "migrate", "--noinput")
    ids = json.loads(manage(env_path, "shell", "-c", SETUP).splitlines()[-1])
    return env_path, ids


def assert_jobs_done(env_path: Path, ids: dict[str, int]) -> None:
    state = json.loads(manage(env_path, "shell", "-c", STATE).splitlines()[-1])
    sessions = {int(pk): tuple(v) for pk, v in state["sessions"].items()}
    assert sessions[ids["idle"]] == ("closed", 3)  # closed, archived, its people kept for now
    assert ids["idle"] in state["archived"]
    assert sessions[ids["busy"]] == ("positioning", 3)
    assert sessions[ids["expired"]] == ("closed", 0)  # its people deleted, its archive kept
    assert ids["expired"] in state["archived"]
    assert sessions[ids["recent"]] == ("closed", 3)
    assert ids["old"] not in state["archives"]
    assert len(state["archives"]) == 3


def test_the_units_run_both_jobs_with_the_daphne_units_environment(tmp_path, jobs_database):
    env_path, ids = prepared(tmp_path, jobs_database)
    idle = run_service("schuifoefening-archive-idle", env_path)
    assert idle.returncode == 0, idle.stderr
    assert "Archived 1 session(s)" in idle.stdout
    purge = run_service("schuifoefening-purge-archives", env_path)
    assert purge.returncode == 0, purge.stderr
    assert "Deleted 1 archive(s)" in purge.stdout
    assert "personal data of 1 session(s)" in purge.stdout
    assert_jobs_done(env_path, ids)

    # The same user, checkout and environment file as the daphne processes.
    daphne = unit(DEPLOY / "schuifoefening@.service")["Service"]
    for name in JOBS:
        service = unit(DEPLOY / f"{name}.service")["Service"]
        for key in ("EnvironmentFile", "WorkingDirectory", "User", "Group"):
            assert service[key] == daphne[key], (name, key)


def test_each_timer_starts_its_service_on_its_schedule_and_survives_a_reboot():
    for name, (command, schedule) in JOBS.items():
        timer = unit(DEPLOY / f"{name}.timer")
        assert one(timer["Timer"], "OnCalendar") == schedule
        assert one(timer["Timer"], "Persistent") == "true"  # a run missed while down happens at boot
        assert timer["Timer"].get("Unit", [f"{name}.service"]) == [f"{name}.service"]
        assert one(timer["Install"], "WantedBy") == "timers.target"
        assert one(unit(DEPLOY / f"{name}.service")["Service"], "ExecStart").endswith(f"manage.py {command}")


def test_systemd_accepts_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    need(analyze is not None, "systemd-analyze is not installed (apt-get install systemd)")
    files = []
    for name in JOBS:
        for kind in ("service", "timer"):
            path = tmp_path / f"{name}.{kind}"
            path.write_text(local((DEPLOY / path.name).read_text(), tmp_path / "env"))
            files.append(str(path))
    (tmp_path / "env").write_text("DEBUG=0\n")
    result = subprocess.run([analyze, "verify", *files], capture_output=True, text=True, timeout=60)
    # verify also reports on units it pulls in that this machine lacks (postgresql.service); none of ours.
    ours = [line for line in result.stderr.splitlines() if "schuifoefening" in line]
    assert not ours, result.stderr
    for name, (_command, schedule) in JOBS.items():
        calendar = subprocess.run([analyze, "calendar", schedule], capture_output=True, text=True, timeout=60)
        assert calendar.returncode == 0, (name, calendar.stderr)


def documented_cron_lines() -> list[str]:
    """The crontab lines docs/deployment.md gives for hosts without systemd timers (/etc/cron.d format)."""
    text = (ROOT / "docs" / "deployment.md").read_text()
    lines = re.findall(r"^[\d*/,-]+ [\d*/,-]+ \* \* \* +schuifoefening +(.+)$", text, flags=re.MULTILINE)
    assert len(lines) == 2, lines
    return lines


def test_the_documented_cron_lines_run_both_jobs_too(tmp_path, jobs_database):
    env_path, ids = prepared(tmp_path, jobs_database)
    for line in documented_cron_lines():
        assert ENV_PATH in line
        result = run_cron(line, env_path)
        assert result.returncode == 0, result.stderr
    assert_jobs_done(env_path, ids)


def test_the_old_cron_lines_without_the_environment_file_did_nothing(tmp_path, jobs_database):
    env_path, ids = prepared(tmp_path, jobs_database)
    for line in OLD_CRON_LINES:
        result = run_cron(line, env_path)
        assert result.returncode == 1
        assert "SECRET_KEY must be set when DEBUG is off" in result.stderr
    state = json.loads(manage(env_path, "shell", "-c", STATE).splitlines()[-1])
    assert ids["old"] in state["archives"]
