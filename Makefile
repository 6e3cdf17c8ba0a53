# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: chromium demo demo-tryton test lint typecheck unit bench bench-tryton clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	# The tryton extra (a local trytond for the Tryton adapter's tests, bench and demo) adds about 10 s; when it
	# cannot be installed, the rest still is and the Tryton tests are skipped with the reason.
	$(BIN)/pip install --quiet -e '.[dev,tryton]' || { echo "warning: the tryton extra could not be installed;" \
		"the Tryton tests will be skipped"; $(BIN)/pip install --quiet -e '.[dev]'; }
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/woobridge demo

# The same story against a real Tryton ERP: store → orders into Tryton → shipped there → tracking, stock, refunds.
demo-tryton: $(STAMP)
	$(BIN)/python -m woobridge.erp.tryton.demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# The browser tests of woobridge serve drive Debian's chromium (Playwright launches /usr/bin/chromium; it never
# downloads a browser). Installed here when missing; without apt-get they are skipped with the reason.
chromium:
	@test -x /usr/bin/chromium || ! command -v apt-get >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

unit: $(STAMP) chromium
	$(BIN)/pytest -q

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/sandbox_pages.py

bench-tryton: $(STAMP)
	$(BIN)/python bench/tryton_orders.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
