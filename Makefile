# FlashPay: `make run` starts the whole system on its embedded defaults, `make test` runs the suite.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/flashpay
PYTEST_ARGS ?=

.PHONY: install run test lint clean protos

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py sync_schedules
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start -f Procfile

test: install browser-deps
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) manage.py ensure_database
	DATABASE_URL=$(TEST_DATABASE_URL) $(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) db.sqlite3 .pytest_cache

# Regenerate the Python modules of our LND proto subset (lightning/protos/*.proto); commit the output.
protos: install
	$(PY) -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. lightning/protos/lightning.proto lightning/protos/router.proto lightning/protos/invoices.proto

# Debian's Chromium and chromedriver for the checkout page's browser tests; installs only when missing (root, as in CI).
.PHONY: browser-deps
browser-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }
