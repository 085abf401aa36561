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
# `make run` serves in production mode (DEBUG off, a generated secret key kept in var/, hashed static files,
# no stack traces) over plain HTTP on the loopback: behind a TLS proxy drop the two SECURE_ overrides.
# Demo and initial passwords must be changed at the first login and staff roles enrol a second factor;
# `make run DEMO_EASY=1` skips both for a quick look at the demo.
SECRET_FILE := var/secret_key
PROD_ENV = DEBUG=0 SECRET_KEY="$$(cat $(SECRET_FILE))" SECURE_SSL_REDIRECT=0 SECURE_COOKIES=0 \
  $(if $(DEMO_EASY),FORCE_PASSWORD_CHANGE=0 OTP_REQUIRED_ROLES=,)

.PHONY: run test setup system venv database messages static broker demo serve lint audit pytest bench install clean

run: setup demo serve

test: setup lint audit pytest

setup: system venv database messages static broker

system:
	@sh deploy/setup-system.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[dev]'
	@touch $@

# The database roles (citygrid/dbroles.py): the PostgreSQL administrator (the OS user) makes the roles and the
# database, the owner role migrates (`migrate` logs in as DATABASE_OWNER_URL), and everything that serves —
# gunicorn, the scheduler, load_demo — runs as the runtime role of DATABASE_URL. check_grants stops the set-up
# when that role could do more than it is granted.
database: venv
	@$(PY) manage.py create_database
	@$(PY) manage.py migrate --noinput -v0
	@$(PY) manage.py check_grants

messages: venv
	@$(PY) manage.py compilemessages -v0 --ignore '$(VENV)/*'

$(SECRET_FILE):
	@mkdir -p var && umask 077 && $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))' > $@

static: venv $(SECRET_FILE)
	@$(PROD_ENV) $(PY) manage.py refresh_static

# The sensors' broker: the product's own Mosquitto on MQTT_URL's port (default 18831), its password file and ACL
# written from the sensor registry; started where nothing answers there, reloaded where ours runs.
broker: database
	@$(PY) manage.py mqtt_broker start

demo: database
	@$(PY) manage.py load_demo

# The scheduler (overdue watch) and the sensors' ingest run beside gunicorn and stop with it (the broker is
# started again after load_demo, which issues the demo sensors' passwords).
serve:
	@echo "CityGrid at http://$(HOST):$(PORT)/ (demo users: see README)"
	@$(PY) manage.py mqtt_broker start
	@$(PROD_ENV) $(PY) manage.py run_scheduler & sched=$$!; $(PROD_ENV) $(PY) manage.py run_ingest & ingest=$$!; \
	trap 'kill $$sched $$ingest 2>/dev/null' EXIT INT TERM; \
	WEB_BIND=$(HOST):$(PORT) WORKERS=$(WORKERS) THREADS=$(THREADS) $(PROD_ENV) \
	  $(VENV)/bin/gunicorn --config deploy/gunicorn.conf.py citygrid.wsgi

lint: venv
	@$(VENV)/bin/ruff check .

audit: venv
	@sh deploy/audit-deps.sh

# One pytest-xdist worker a core (TEST_WORKERS=0: one process), each with its own test database, Redis database and
# scratch benchmark database; pytest-django's order (tests that flush the database last) holds within each worker.
TEST_WORKERS ?= auto
pytest: venv
	@$(PY) -m pytest --create-db -n $(TEST_WORKERS) --maxprocesses 8 $(PYTEST_ARGS)

bench: setup
	@$(PY) bench/locate.py

# A city's installation (README, Operations): as root on a Debian host, from the checkout where it should live.
# Services under systemd behind nginx, backups and their timers; safe to run again.
install:
	@SERVER_NAME="$(SERVER_NAME)" TLS_CERT="$(TLS_CERT)" TLS_KEY="$(TLS_KEY)" sh deploy/install.sh

clean:
	rm -rf $(VENV) var
