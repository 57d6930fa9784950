# Two commands on a fresh machine: `make demo` and `make test`.
# Both build .venv from nothing; `make test` also installs what the tests run for real
# when it is missing: Debian's chromium (browser tests), dovecot-imapd (the bounce
# mailbox) and systemd (systemd-analyze checks the units in contrib/). Needs root or
# sudo, as on CI.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench clean browser imap systemd wheel

# The browser tests need Debian's chromium and chromedriver (never a downloaded browser);
# apt-get runs only when one of them is missing, through sudo only when not root.
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# html-validate (npm, pinned in package-lock.json) checks the email HTML in the tests.
NODE_STAMP := node_modules/.installed-stamp

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "msdigest needs Python 3.11 or newer (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/msdigest demo

browser:
	@if [ ! -x $(CHROMIUM) ] || [ ! -x $(CHROMEDRIVER) ]; then \
	  echo "installing Debian's chromium and chromium-driver for the browser tests"; \
	  $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; \
	fi

# The bounce tests read a real IMAP server: Debian's dovecot, which they start themselves
# on a free port with a config of their own (installing the package may also start the
# system's dovecot service on a machine that runs systemd; the tests do not use it).
DOVECOT := /usr/sbin/dovecot
imap:
	@if [ ! -x $(DOVECOT) ]; then \
	  echo "installing Debian's dovecot-imapd for the bounce tests"; \
	  $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y dovecot-imapd; \
	fi

# systemd-analyze verify checks contrib/systemd/*.service (it runs without systemd as PID 1)
SYSTEMD_ANALYZE := /usr/bin/systemd-analyze
systemd:
	@if [ ! -x $(SYSTEMD_ANALYZE) ]; then \
	  echo "installing Debian's systemd for systemd-analyze (the unit files' check)"; \
	  $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y systemd; \
	fi

# The wheel contrib/Dockerfile installs: dist/msdigest-<version>-py3-none-any.whl
wheel: $(STAMP)
	$(BIN)/python -m pip wheel --no-deps --no-build-isolation -q -w dist .

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

test: $(STAMP) browser imap systemd $(NODE_STAMP) lint
	$(BIN)/pytest

# ruff, the type checker (strict on src/) and the import layers (pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

bench: $(STAMP)
	$(BIN)/python bench/send_bench.py --full
	$(BIN)/python bench/themes_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts dist build node_modules
