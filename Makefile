# Two commands on a fresh machine: `make run` and `make test`; `make test-fast` while working.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# On the LAN (HOST=0.0.0.0) phones reach this machine by its first address.
LAN_IP := $(shell hostname -I 2>/dev/null | awk '{print $$1}')
PUBLIC_HOST := $(if $(filter 0.0.0.0,$(HOST)),$(or $(LAN_IP),127.0.0.1),$(HOST))

# Served beyond this machine over plain HTTP: say so, in both languages, before anything else.
PLAIN_HTTP_WARNING := echo "  LET OP: dit is gewoon HTTP. Het wachtwoord van de begeleider gaat onversleuteld over dit" && \
	echo "  netwerk; iedereen op dezelfde wifi kan het meelezen. Gebruik op een locatie HTTPS: docs/deployment.md." && \
	echo "  WARNING: plain HTTP. The facilitator's login travels unencrypted over this network, readable by" && \
	echo "  anyone on the same Wi-Fi. At a venue, serve HTTPS behind nginx: see docs/deployment.md." && echo ""

.PHONY: install install-dev run test test-fast lint format messages check-deploy bench clean

# `make run` installs what the server runs (requirements.txt); the targets that test, lint or
# measure add their tools (requirements-dev.txt, which includes requirements.txt).
$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

.secret_key:
	@$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

# A local deployment: DEBUG off, plain HTTP (no TLS on a laptop), SQLite and
# the in-memory channel layer unless DATABASE_URL / REDIS_URL say otherwise.
run: export DEBUG ?= 0
run: export SECURE_SSL_REDIRECT ?= 0
run: export SECURE_COOKIES ?= 0
run: export SECURE_HSTS_SECONDS ?= 0
run: export ALLOWED_HOSTS ?= 127.0.0.1,localhost,$(PUBLIC_HOST)
run: export PUBLIC_URL ?= http://$(PUBLIC_HOST):$(PORT)
run: install .secret_key
	@export SECRET_KEY=$${SECRET_KEY:-$$(cat .secret_key)}; \
	$(PY) manage.py migrate --noinput && \
	$(PY) manage.py collectstatic --noinput --verbosity 0 && \
	$(PY) manage.py ensure_facilitator && \
	echo "" && echo "  Schuifoefening live: $(PUBLIC_URL)/f/   (stop with Ctrl-C)" && echo "" && \
	$(if $(filter-out 127.0.0.1 localhost ::1,$(HOST)),$(PLAIN_HTTP_WARNING) &&) \
	exec $(VENV)/bin/daphne --bind $(HOST) --port $(PORT) --websocket_timeout 86400 \
		--websocket-max-message-size 131072 --websocket-max-frame-size 131072 --ping-interval 20 --ping-timeout 30 \
		--verbosity 0 config.asgi:application

# Everything, as CI runs it (.ci/run): browser, fault suite and benchmark smoke run included.
test: install-dev
	$(PY) -m pytest

# The lane to run after every change (under a minute): no Chromium, no faults, no benchmark,
# nothing marked slow. Services tests still run when PostgreSQL/Redis are there.
test-fast: install-dev
	$(PY) -m pytest -m "not browser and not faults and not bench and not slow"

# Also fails when a model changed without its migration (settings need DEBUG=1 or a SECRET_KEY;
# an in-memory SQLite, so that it neither needs nor touches a database).
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=1 DATABASE_URL= SQLITE_PATH=:memory: $(PY) manage.py makemigrations --check --dry-run

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Needs GNU gettext; the compiled .mo files are committed so that `make run` does not.
# manage.py refuses DEBUG=0 without a SECRET_KEY: use the one `make run` keeps.
messages: install .secret_key
	@export SECRET_KEY=$${SECRET_KEY:-$$(cat .secret_key)}; \
	$(PY) manage.py makemessages --locale nl --no-obsolete --ignore ".venv/*" --ignore "staticfiles/*" && \
	$(PY) manage.py compilemessages --locale nl --ignore ".venv/*"

check-deploy: install
	SECRET_KEY=$$($(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))") DEBUG=0 ALLOWED_HOSTS=example.org \
		$(PY) manage.py check --deploy --fail-level WARNING

# The load benchmark: regenerates docs/performance.md and docs/performance.png (about 15 minutes).
bench: install-dev
	$(VENV)/bin/pip install --quiet -r bench/requirements.txt
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
