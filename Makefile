# Everything a newcomer needs: `make run` (the demo against the sandbox) and `make test`.
# `make run` keeps its cache in .run/cache, a folder the site and its worker share, so a
# balance the worker drops after a settlement is dropped for the site too.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
SANDBOX_PORT ?= 8765
PYTEST_ARGS ?=
# pytest-xdist processes for make test (0: none, one process): three on two cores, since much of
# the suite waits on a browser, a server or a worker process rather than computing; make
# test-postgres, whose tests time processes racing for row locks, keeps one per core.
WORKERS ?= 3
POSTGRES_WORKERS ?= 2

POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: install chromium run link serve test test-app test-postgres screenshots lint messages bench clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

install: $(STAMP)

# The browser tests drive Debian's Chromium (Playwright cannot download its own here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

run: install
	@set -e; \
	export DEBUG=on VERS_SANDBOX=on VERS_LANDING_URL=http://127.0.0.1:$(SANDBOX_PORT); \
	export VERS_AUTH_TOKEN=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(32))'); \
	export CACHE_URL=$${CACHE_URL:-filecache://$(CURDIR)/.run/cache}; \
	mkdir -p .run; \
	$(BIN)/python manage.py migrate --no-input -v 0; \
	$(BIN)/python manage.py sandbox_landing --port $(SANDBOX_PORT) --credits 1 --state-file .run/sandbox.json & sandbox=$$!; \
	trap 'kill $$sandbox 2>/dev/null' EXIT INT TERM; \
	$(BIN)/python manage.py demo_history --if-empty --wait 5; \
	$(BIN)/python manage.py db_worker --no-reload -v 0 & worker=$$!; \
	trap 'kill $$sandbox $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/python manage.py demo_user --url http://127.0.0.1:$(PORT) --another '$(LINK_AGAIN) (in a second terminal, while this runs)'; \
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# A fresh single-use log-in link for the demo user on http://127.0.0.1:$(PORT), from a second
# terminal while `make run` runs (its database, its settings). `make link USER=ada` for another
# user; USER from the environment (your login name) is not used. No install here: the packages
# stay as they are under the running site.
LINK_USER = $(if $(filter command line,$(origin USER)),$(USER),demo)
LINK_AGAIN = make link$(if $(filter-out 8000,$(PORT)), PORT=$(PORT))
link:
	@test -x $(BIN)/python || { echo "make link: there is no $(VENV) here yet; make run installs it and creates the demo user." >&2; exit 1; }
	@DEBUG=on $(BIN)/python manage.py magic_link '$(LINK_USER)' --url http://127.0.0.1:$(PORT)

# A staff superuser for the Django admin (http://127.0.0.1:$(PORT)/admin/) on the demo's database,
# with make run's settings (DEBUG on; db.sqlite3, or DATABASE_URL from the environment or .env):
# `make admin USER=ada` creates ada, or makes the existing ada one, with a new random password it
# prints (the old one stops working). Migrates first, so it also works before the first make run.
# No install here, as for make link.
ADMIN_USER = $(if $(filter command line,$(origin USER)),$(USER),admin)
.PHONY: admin
admin:
	@test -x $(BIN)/python || { echo "make admin: there is no $(VENV) here yet; make run (or make install) installs it." >&2; exit 1; }
	@DEBUG=on $(BIN)/python manage.py migrate --no-input -v 0
	@DEBUG=on $(BIN)/python manage.py admin_user '$(ADMIN_USER)' --url http://127.0.0.1:$(PORT) \
	  --again 'make admin USER=$(ADMIN_USER)$(if $(filter-out 8000,$(PORT)), PORT=$(PORT))'

# As in production (README, "Deploying"): DEBUG off, settings from the environment (and .env),
# no sandbox, gunicorn with uvicorn workers (reef_site/gunicorn.conf.py) on PORT (8000 unless
# the environment, `make serve PORT=...` or .env says otherwise), and the background worker beside it.
serve: install
	@test -n "$$SECRET_KEY" || grep -Eqs '^(export +)?SECRET_KEY *= *[^ #]' .env || { \
	  echo "make serve: SECRET_KEY is not set. Set it in the environment or in .env beside manage.py," >&2; \
	  echo "for example: SECRET_KEY=\$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))')" >&2; \
	  exit 1; }
	@set -e; \
	export DEBUG=off VERS_SANDBOX=off; \
	$(if $(filter file,$(origin PORT)),,export PORT=$(PORT);) \
	$(BIN)/python manage.py migrate --no-input; \
	$(BIN)/python manage.py collectstatic --no-input -v 0; \
	$(BIN)/python manage.py db_worker --no-reload & worker=$$!; \
	$(BIN)/gunicorn --config reef_site/gunicorn.conf.py reef_site.asgi:application & server=$$!; \
	trap 'kill $$server $$worker 2>/dev/null; wait' EXIT INT TERM; \
	wait $$server

test: install chromium
	$(BIN)/python -m pytest -n $(WORKERS) $(PYTEST_ARGS)

# The app's own tests again under tests/app/settings.py: only what `credits` needs (no reef_site,
# no chat), the app mounted under api/ instead of ui/api/. tests/app/test_alone.py, last, checks
# that nothing of the host site was imported. test_settlement.py's three tests of reef_site's
# pages (/ui/, the hard-coded /ui/api/topup-form and topup-seen) are left out here.
APP_TESTS := tests/test_conf.py tests/test_checks.py tests/test_client.py tests/test_mapping.py \
  tests/test_outcomes.py tests/test_idempotency.py tests/test_limits.py tests/test_balance.py \
  tests/test_signals.py tests/test_settlement.py tests/test_ui_forms.py tests/test_properties.py \
  tests/app/test_alone.py
APP_TESTS_LEFT_OUT := \
  --deselect tests/test_settlement.py::test_the_form_without_javascript_settles_first_too \
  --deselect tests/test_settlement.py::test_under_atomic_requests_the_landing_is_called_outside_any_transaction \
  --deselect tests/test_settlement.py::test_a_success_the_page_has_shown_is_not_announced_again
test-app: install
	DJANGO_SETTINGS_MODULE=tests.app.settings $(BIN)/python -m pytest -p no:cacheprovider $(APP_TESTS) $(APP_TESTS_LEFT_OUT) $(PYTEST_ARGS)

# The browser tests again, saving their screenshots into docs/ (README shows them).
screenshots: install chromium
	SCREENSHOTS_DIR=docs $(BIN)/python -m pytest tests/browser

# The tests whose correctness depends on the database, on PostgreSQL (needs a server at POSTGRES_URL).
# The PostgreSQL-outage tests point the site at a closed port whatever the tests run on: once is enough.
test-postgres: install
	DATABASE_URL=$(POSTGRES_URL) $(BIN)/python -m pytest -n $(POSTGRES_WORKERS) tests/test_concurrency.py tests/test_idempotency.py tests/test_limits.py \
	  tests/test_settlement.py tests/test_settlement_processes.py tests/test_soak.py \
	  tests/test_serving.py tests/test_production.py tests/test_degraded.py tests/test_one_in_flight.py \
	  tests/test_wsgi_views.py tests/test_alerts.py tests/test_samples.py tests/test_spend.py -k "not postgresql_unreachable" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy credits chat reef_site

# The app's translation catalogues (credits/locale): every language's django.po brought up to date
# with the source (English is the template) and compiled to django.mo; commit both. Run inside
# credits/ without the site's settings, so only the app's own strings are collected. GNU gettext
# comes from Debian when it is missing.
messages: install
	@command -v msgfmt >/dev/null 2>&1 && command -v xgettext >/dev/null 2>&1 || { \
	  echo "Installing Debian's gettext for the translation catalogues"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq gettext >/dev/null; }
	cd credits && env -u DJANGO_SETTINGS_MODULE $(abspath $(BIN))/django-admin makemessages --all --no-obsolete
	cd credits && env -u DJANGO_SETTINGS_MODULE $(abspath $(BIN))/django-admin compilemessages

bench: install
	$(BIN)/python bench/topup_latency.py
	$(BIN)/python bench/soak.py $(SOAK_ARGS)
	$(BIN)/python bench/serve.py --postgres $(POSTGRES_URL) $(SERVE_ARGS)
	$(BIN)/python bench/cpu.py --postgres $(POSTGRES_URL) $(CPU_ARGS)
	$(BIN)/python bench/history.py $(HISTORY_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache staticfiles
