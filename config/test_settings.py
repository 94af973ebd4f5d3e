"""The test run: the production settings, with a throwaway SECRET_KEY when none is set.

Start-up refuses DEBUG=0 without a SECRET_KEY (config/settings.py). The tests run
production-like (DEBUG off) and so need one; putting it in the environment here,
before the settings load, hands it to the daphne and manage.py processes the tests
start too, so that a session cookie made in the test is valid in them.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-insecure-key-never-used-outside-the-test-suite")

from config.settings import *  # noqa: F403
