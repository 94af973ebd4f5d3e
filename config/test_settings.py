"""The test run: the production settings, with a throwaway SECRET_KEY when none is set.

Start-up refuses DEBUG=0 without a SECRET_KEY (config/settings.py). The tests run
production-like (DEBUG off) and so need one; putting it in the environment here,
before the settings load, hands it to the daphne and manage.py processes the tests
start too, so that a session cookie made in the test is valid in them.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-insecure-key-never-used-outside-the-test-suite")
# Each test run keeps its Redis keys (channel layer, live state, cache) under a prefix of its own,
# so that runs sharing one Redis never clear or count each other's keys.
os.environ.setdefault("REDIS_PREFIX", f"test{os.getpid()}")

from config.settings import *  # noqa: F403

# Sockets tested in-process (channels' WebsocketCommunicator) use the in-memory channel layer: a
# test's event loop closes with consumers still subscribed, and cancelling channels-redis's
# blocking read then can hang the run. The Redis channel layer is tested where it runs for real:
# every test that starts daphne (faults, two processes, nginx, the benchmark) and
# tests/test_real_services.py, which switches to it in-process.
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
