# Set-up and everyday commands. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DURATION ?= 120

.PHONY: install demo test bench lint clean tools

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# promtool / amtool / alertmanager for the deploy/ checks; stunnel, openssl and redis-server for the
# transport-security and fault tests (Debian packages).
tools:
	@command -v promtool >/dev/null && command -v amtool >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-alertmanager >/dev/null)
	@command -v stunnel4 >/dev/null && command -v openssl >/dev/null && command -v redis-server >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stunnel4 openssl redis-server >/dev/null)

demo: install
	$(VENV)/bin/monitor demo --duration $(DURATION)

test: install tools
	$(PY) -m pytest -q

bench: install
	$(VENV)/bin/monitor bench

lint: install
	$(VENV)/bin/ruff check monitor streams tests

clean:
	rm -rf $(VENV) .monitor-data .pytest_cache
