"""Backups: a finished session in PostgreSQL, dumped with pg_dump as docs/deployment.md says, restored into an
empty database on the same server; Django pointed at the restored database (and at an empty Redis key space:
Redis holds nothing a backup needs) serves the same results and the same archive, byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import need, port_open
from tests.servers import local_env, manage, new_prefix

pytestmark = pytest.mark.services

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"

# A workshop as it ends: two rounds, a group, a note, a participant who left a slider empty; closed and archived.
FINISH = """
import secrets
from django.contrib.auth.models import Group as Role, User
from workshop import access, closing, session_control
from workshop.models import Exercise, Participant, Position

def person(name, role):
    user = User.objects.create_user(username=name, password="a-long-test-password")
    user.groups.add(Role.objects.filter(name=role).first() or access.create_role(role))
    return user

fenna, rita = person("fenna", access.FACILITATORS), person("rita", access.RESEARCH_STAFF)
exercise = Exercise.objects.filter(slug="wijkgericht-werken").order_by("-version").first()
session = session_control.create_session(facilitator=fenna, exercise=exercise, title="Wijkteam Noord")
session_control.start_positioning(session=session)
team = session_control.add_group(session=session, name="Team Centrum")
people = [Participant.objects.create(session=session, token_hash=secrets.token_hex(32), group=team if i < 3 else None)
          for i in range(5)]
sliders = list(exercise.sliders.order_by("order"))
for i, who in enumerate(people):
    for j, slider in enumerate(sliders):
        value = None if (i, j) == (4, 2) else (17 * i + 23 * j) % 101
        Position.objects.create(participant=who, slider=slider, round=1, value=value)
session_control.save_note(session=session, slider=sliders[0], round=1, text="Bewoners eerst")
session_control.start_discussion(session=session)
session_control.start_round_two(session=session)
for i, who in enumerate(people):
    for j, slider in enumerate(sliders):
        Position.objects.create(participant=who, slider=slider, round=2, value=(31 * i + 7 * j + 5) % 101)
archive = closing.close_session(session=session)
print(session.code, archive.pk)
"""

# Everything a facilitator and research staff can read of it; the forms' CSRF tokens are masked anew on
# every request, so they are blanked before the pages are compared.
READ = """
import hashlib, json, re, sys
from django.contrib.auth.models import User
from django.test import Client

code, archive = sys.argv[-2:]
facilitator, researcher = Client(), Client()
facilitator.force_login(User.objects.get(username="fenna"))
researcher.force_login(User.objects.get(username="rita"))
pages = {
    "results.json": (facilitator, f"/f/s/{code}/results.json"),
    "results.csv": (facilitator, f"/f/s/{code}/results.csv"),
    "results page": (facilitator, f"/f/s/{code}/results/"),
    "archive export.json": (researcher, "/archive/export.json"),
    "archive export.csv": (researcher, "/archive/export.csv"),
    "archive page": (researcher, f"/archive/{archive}/"),
    "archive list": (researcher, "/archive/"),
}
out = {}
for name, (client, url) in pages.items():
    response = client.get(url, HTTP_HOST="127.0.0.1")
    assert response.status_code == 200, (name, response.status_code)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    body = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b'name="csrfmiddlewaretoken" value=""', body)
    body = re.sub(rb'"X-CSRFToken": "[^"]+"', b'"X-CSRFToken": ""', body)
    digest = hashlib.sha256(body).hexdigest()
    out[name] = {"bytes": len(body), "sha256": digest, "head": body[:200].decode(errors="replace")}
print(json.dumps(out))
"""


def database_env(database_url: str) -> dict[str, str]:
    # A Redis key space of its own each time: the restored database must need nothing from Redis.
    env = local_env(DATABASE_URL=database_url, SECRET_KEY="backup-test-" + "s" * 50)
    if redis_url := os.environ.get("REDIS_URL"):
        env |= {"REDIS_URL": redis_url, "REDIS_PREFIX": new_prefix()}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # manage.py's own: config.settings
    return env


def read_everything(database_url: str, code: str, archive: str, *, hash_seed: str) -> dict[str, dict[str, object]]:
    """Each read in a process of its own; a different string hashing for each, as two server processes
    have: what a page shows must not depend on a set's order."""
    script = READ.replace("sys.argv[-2:]", f"{[code, archive]!r}")
    env = database_env(database_url) | {"PYTHONHASHSEED": hash_seed}
    return json.loads(manage("shell", "-c", script, env=env).splitlines()[-1])


@pytest.fixture
def databases():
    need(port_open("127.0.0.1", 5432), "PostgreSQL is not running on 127.0.0.1:5432")
    for tool in ("pg_dump", "pg_restore"):
        need(shutil.which(tool) is not None, f"{tool} is not installed (apt-get install postgresql-client)")
    import psycopg

    base = urlsplit(os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/schuif")
    prefix = base.path.lstrip("/") or "schuif"
    names = (f"{prefix}_backup", f"{prefix}_restored")
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{names[0]}"')
    yield names
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(*argv: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stderr}"


def test_a_dump_restored_into_an_empty_database_serves_the_same_results_and_archive(databases, tmp_path: Path):
    source, restored = databases
    url = "postgres://postgres@127.0.0.1:5432/{}".format
    manage("migrate", "--noinput", env=database_env(url(source)))
    code, archive = manage("shell", "-c", FINISH, env=database_env(url(source))).split()[-2:]
    before = read_everything(url(source), code, archive, hash_seed="1")
    assert before["results.json"]["bytes"] > 500
    assert before["archive export.csv"]["bytes"] > 200

    # docs/deployment.md, "Backups": the nightly dump, then a restore into a new, empty database.
    dump = tmp_path / "schuifoefening.dump"
    run(
        "pg_dump",
        "--format=custom",
        "--no-owner",
        "--file",
        str(dump),
        url(source).replace("postgres://", "postgresql://"),
    )
    run("createdb", "--host", "127.0.0.1", "--username", "postgres", restored)
    run(
        "pg_restore",
        "--no-owner",
        "--exit-on-error",
        "--single-transaction",
        "--dbname",
        url(restored).replace("postgres://", "postgresql://"),
        str(dump),
    )
    after = read_everything(url(restored), code, archive, hash_seed="2")
    assert after == before
    # And the restored database is a working one: its migrations are all applied, nothing to do.
    assert "No migrations to apply" in manage("migrate", "--noinput", env=database_env(url(restored)))
