"""Personas and the real-services rule.

A test that needs Redis, PostgreSQL or Chromium skips with a reason when the
service is missing, and fails instead when REQUIRE_SERVICES=1 (as in CI).
"""

from __future__ import annotations

import json
import os
import shutil
import socket

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.test import Client

from tests.phones import DEFAULT_EXERCISE, ROOT, SLIDERS
from workshop import access, exercises, runtime, session_control
from workshop.models import Exercise, Session

__all__ = ["DEFAULT_EXERCISE", "ROOT"]
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
ORIGIN = (b"origin", b"http://127.0.0.1")


def need(available: bool, reason: str) -> None:
    """Skip without the service on a laptop; fail without it in CI."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _plain_http(settings):
    # Tests talk plain HTTP to the test client and to local daphne processes, and
    # must not depend on a collectstatic manifest left over from `make run`.
    settings.SECURE_SSL_REDIRECT = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def fresh_runtime():
    """Each test starts with empty live state and abuse counts: one reset for all of it."""
    runtime.reset()
    forget_cache()
    yield
    runtime.reset()


def forget_cache() -> None:
    # Not cache.clear(): on Redis that is FLUSHDB, which would take the channel layer's
    # and the live store's keys with it. Only this cache's own prefix goes.
    from django.conf import settings

    if settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        client = cache._cache.get_client(write=True)
        for name in client.scan_iter(match=f"{settings.CACHES['default']['KEY_PREFIX']}:*"):
            client.delete(name)
    else:
        cache.clear()


@pytest.fixture
def exercise(db) -> Exercise:
    # Imported rather than relied on from the migration: transactional tests flush the tables.
    return exercises.import_exercise(data=json.loads(DEFAULT_EXERCISE.read_text()))


@pytest.fixture(scope="session")
def slider_keys() -> list[str]:
    """The default exercise's slider keys in their order, as its JSON defines them."""
    return list(SLIDERS)


def role(name: str) -> Group:
    """A role's group as the migrations made it; a transactional test's flush takes it, and then it is
    made again by the very code the migration runs (access.create_role), never by hand here."""
    return Group.objects.filter(name=name).first() or access.create_role(name)


def persona(username: str, *roles: str) -> User:
    user = User.objects.create_user(username=username, password="a-long-test-password")
    user.groups.add(*(role(name) for name in roles))
    return user


def _facilitator(username: str) -> User:
    return persona(username, access.FACILITATORS)


@pytest.fixture
def fenna(db) -> User:
    """Fenna facilitates sessions for her municipality."""
    return _facilitator("fenna")


@pytest.fixture
def otto(db) -> User:
    """Otto is another facilitator, who must not see Fenna's sessions."""
    return _facilitator("otto")


@pytest.fixture
def rosa(db) -> User:
    """Rosa has an account and no role at all: no facilitator, no research staff."""
    return persona("rosa")


@pytest.fixture
def admin_user_persona(db) -> User:
    return User.objects.create_superuser(username="beheer", password="a-long-test-password", email="")


@pytest.fixture
def fenna_client(fenna) -> Client:
    client = Client()
    client.force_login(fenna)
    return client


@pytest.fixture
def lobby_session(fenna, exercise) -> Session:
    """A new session of Fenna's with the default exercise: phones can join, sliders are closed."""
    return session_control.create_session(facilitator=fenna, exercise=exercise, title="Wijkteam Noord")


@pytest.fixture
def workshop_session(lobby_session) -> Session:
    """Fenna's session in round 1 with every slider open."""
    session_control.start_positioning(session=lobby_session)
    return lobby_session


def session_cookie(user: User) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def pytest_configure(config):
    from django.conf import settings

    # Consumers reach the database from a worker thread; a persistent connection
    # there would outlive the test database.
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    # The personas' passwords are hashed at every test's set-up; the production hasher's
    # deliberate slowness (about half a second each) bought the suite nothing but minutes.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def researcher(db) -> User:
    """Rik works for Platform31/LPB: archives only."""
    return persona("rik", access.RESEARCH_STAFF)


@pytest.fixture
def researcher_client(researcher) -> Client:
    client = Client()
    client.force_login(researcher)
    return client


CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium in this sandbox: without the background-networking flags it tries hosts it
# cannot reach at every start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def browser():
    """Chromium driven by Playwright, one per test module."""
    need(shutil.which(CHROMIUM) is not None, f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "the playwright package is not installed")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


FIGURES: list[str] = []


@pytest.fixture
def figure():
    """Record a measured figure; they are printed together at the end of the run."""
    return FIGURES.append


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
