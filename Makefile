# Two commands from a fresh clone, needing only python3 and make: `make run`, `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run test test-faults test-faults-full lint install-test bench bench-quick

$(INSTALLED): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(INSTALLED)

install: $(INSTALLED)

# Migrate, make the demo superuser, then Redis, the worker pool (jobs_worker), the web server, a demo job
# producer, the sweeper and the cron scheduler from the Procfile (honcho). Ctrl-C stops them all.
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo_superuser
	PATH="$(CURDIR)/$(BIN):$$PATH" DEBUG=$${DEBUG:-1} $(BIN)/honcho start

test: install
	$(BIN)/python -m pytest

# The fault-injection and load suite (tests/faults/, left out of `make test`): real workers and
# sweepers killed, Redis stopped and flushed, the database cut off (on PostgreSQL), 1,000 jobs of load.
# Set DATABASE_URL for PostgreSQL. CI runs it on SQLite and on PostgreSQL.
test-faults: install
	$(BIN)/python -m pytest -m faults tests/faults

# The same with the issue's full load: 10,000 jobs (a quarter of an hour on two cores).
test-faults-full: install
	FAULTS_FULL=1 $(BIN)/python -m pytest -m faults tests/faults

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/mypy

# Build the wheel and sdist, install the wheel into a fresh virtualenv, and run the README's quick
# start in a new django-admin project: a job that succeeds, one that fails and is re-run (.ci/install_test.sh).
install-test: install
	PYTHON=$(PYTHON) bash .ci/install_test.sh

# jobs_app beside bare RQ on one Redis, in one run: the table in docs/benchmarks.md (bench/run.py).
bench: install
	$(BIN)/python -m bench.run

# Small numbers: proves the benchmark still runs (CI); the figures mean little.
bench-quick: install
	$(BIN)/python -m bench.run --quick
