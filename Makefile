# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run serve test lint format worker beat demo messages clean static

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.base-installed: requirements/base.txt requirements/constraints.txt | $(PY)
	$(PIP) install --quiet -r requirements/base.txt -c requirements/constraints.txt
	touch $@

$(VENV)/.dev-installed: requirements/base.txt requirements/production.txt requirements/dev.txt requirements/constraints.txt | $(PY)
	$(PIP) install --quiet -r requirements/dev.txt -c requirements/constraints.txt
	touch $@ $(VENV)/.base-installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## The browser encryption client: npm's age-encryption bundled by esbuild, served from static/.
## Reproducible (docs/chiffrement.md): esbuild and every package pinned by package-lock.json,
## no source map, no timestamp, no path in the output; tests/test_bundle_integrity.py builds
## it elsewhere with this rule (`make BUNDLE=/elsewhere/chiffrement.js /elsewhere/chiffrement.js`)
## and compares the bytes. `sha256sum $(BUNDLE)` is the digest published on the platform.
BUNDLE := static/offres/build/chiffrement.js
$(BUNDLE): $(wildcard static/offres/src/*.js) node_modules/.installed
	node_modules/.bin/esbuild static/offres/src/chiffrement.js --bundle --format=iife \
		--global-name=MarchesChiffrement --target=es2022 --minify --legal-comments=eof \
		--log-level=warning --outfile=$@

static: $(BUNDLE)

## Run the platform on embedded defaults (SQLite, local files, eager tasks) with demo data.
## DEBUG off, so that the demo shows the platform's French error pages (404, 500), not
## Django's debug page; --insecure keeps runserver serving the static files.
## tests/test_first_use.py starts the server with RUNSERVER.
## The demo and the server run under config/local_clamd.py: when clamav-daemon is installed,
## a private clamd (config, socket and log in var/clamd/, the repository's EICAR-only test
## database) scans the DCE files, and stops with the server; without it, files stay
## « non analysé » and the publication check says so.
RUNSERVER := DEBUG=False $(PY) manage.py runserver --insecure 127.0.0.1:8000
run: $(VENV)/.base-installed $(BUNDLE)
	$(PY) manage.py migrate --noinput
	$(PY) -m config.local_clamd sh -c '$(PY) manage.py demo && $(RUNSERVER)'

## Run the whole test suite (SQLite by default; PostgreSQL + Redis when DATABASE_URL and
## CELERY_BROKER_URL are set, as in CI).
test: $(VENV)/.dev-installed node_modules/.installed $(BUNDLE)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/djlint templates --lint
	$(VENV)/bin/lint-imports

format: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
	$(VENV)/bin/djlint templates --reformat

## A Celery worker (needs CELERY_BROKER_URL, e.g. redis://127.0.0.1:6379/0).
worker: $(VENV)/.base-installed
	$(VENV)/bin/celery -A config worker --loglevel=INFO

beat: $(VENV)/.base-installed
	$(VENV)/bin/celery -A config beat --loglevel=INFO

## Regenerate the English translation catalogue and compile it with the French overrides
## of third-party strings (locale/fr); needs Debian's gettext.
messages: $(VENV)/.dev-installed
	$(PY) manage.py makemessages --locale en --ignore '.venv/*' --ignore 'node_modules/*'
	$(PY) manage.py compilemessages --locale en --locale fr --ignore '.venv/*'

clean:
	rm -rf $(VENV) node_modules db.sqlite3 var test-artifacts static/offres/build
