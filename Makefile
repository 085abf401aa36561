# CityGrid: `make run` serves the demo city at http://127.0.0.1:8000, `make test` runs every test.
# Both install what is missing first (Debian packages, PostgreSQL + PostGIS, the virtualenv, the
# database) and are safe to run again.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 3
# Threads let a worker hold dispatchers' live-feed streams open while it serves other requests.
THREADS ?= 8

.PHONY: run test setup system venv database messages static demo serve lint audit pytest bench clean

run: setup demo serve

test: setup lint audit pytest

setup: system venv database messages static

system:
	@sh deploy/setup-system.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[dev]'
	@touch $@

database: venv
	@$(PY) manage.py create_database
	@$(PY) manage.py migrate --noinput -v0

messages: venv
	@$(PY) manage.py compilemessages -v0 --ignore '$(VENV)/*'

static: venv
	@$(PY) manage.py collectstatic --noinput -v0

demo: database
	@$(PY) manage.py load_demo

# The scheduler (overdue watch) runs beside gunicorn and stops with it.
serve:
	@echo "CityGrid at http://$(HOST):$(PORT)/ (demo users: see README)"
	@$(PY) manage.py run_scheduler & sched=$$!; trap 'kill $$sched 2>/dev/null' EXIT INT TERM; \
	$(VENV)/bin/gunicorn citygrid.wsgi --bind $(HOST):$(PORT) --workers $(WORKERS) --threads $(THREADS) \
	  --access-logfile -

lint: venv
	@$(VENV)/bin/ruff check .

audit: venv
	@sh deploy/audit-deps.sh

pytest: venv
	@$(PY) -m pytest --create-db $(PYTEST_ARGS)

bench: setup
	@$(PY) bench/locate.py

clean:
	rm -rf $(VENV) var
