# The project's two commands: `make run` serves the demo, `make test` runs every check.
# Both set everything up on a fresh Debian machine (Python packages into .venv, system
# packages with apt-get when run as root, a private PostGIS unless GEOPORTAL_DATABASE_URL is set).

SHELL := /bin/bash
# The interpreter of .venv: Debian's own Python when it is 3.11 or later (an optimised build,
# linked statically: WeasyPrint renders a note on 7-14 % less CPU than on a generic build of
# the same version), else the first python3 on the PATH. PYTHON=... chooses another.
DEBIAN_PYTHON := /usr/bin/python3
PYTHON ?= $(shell $(DEBIAN_PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
                    2>/dev/null && echo $(DEBIAN_PYTHON) || echo python3)
VENV := .venv
BIN := $(VENV)/bin
GEOPORTAL := $(BIN)/geoportal
STAMP := $(VENV)/.installed
DEMO_PARCELS ?= 20000
HOST ?= 127.0.0.1
PORT ?= 8000
# Debian packages the tests and the note need: GDAL's CLI (interoperability tests), Chromium
# (browser tests), poppler (PDF to PNG), zbar (QR codes), wrk (benchmarks), Pango + fonts (WeasyPrint),
# PostgreSQL + PostGIS, PyQGIS (styles opened in QGIS, headless), Node.js (MapLibre's style validator),
# nginx (the cache in front of several instances), pgBackRest (backups, point-in-time recovery)
# and python3-venv (Debian's Python makes .venv).
SYSTEM_PACKAGES := python3-venv gdal-bin chromium poppler-utils zbar-tools wrk libpango-1.0-0 libpangoft2-1.0-0 \
                   libharfbuzz-subset0 fonts-dejavu-core fonts-noto-core python3-qgis nodejs nginx \
                   pgbackrest postgresql-15-auto-failover pg-auto-failover-cli
# MapLibre's style validator (gl-style-validate), from the npm registry, for the style tests.
STYLE_SPEC := @maplibre/maplibre-gl-style-spec@26.11.0
STYLE_VALIDATOR := $(VENV)/node/node_modules/.bin/gl-style-validate
# Lighthouse (the viewer's accessibility and best-practices audits), run on Debian's Chromium:
# installed here, before the tests, never by a test (PUPPETEER_SKIP_DOWNLOAD: no browser).
LIGHTHOUSE_SPEC := lighthouse@13.5.0
LIGHTHOUSE := $(VENV)/node/node_modules/.bin/lighthouse

.PHONY: run test setup venv sysdeps db lint typecheck pytest bench clean

run: setup
	$(GEOPORTAL) demo --if-empty --parcels $(DEMO_PARCELS)
	$(GEOPORTAL) serve --host $(HOST) --port $(PORT)

test: setup lint typecheck pytest

setup: sysdeps venv db  # system packages first: .venv may be made by Debian's Python

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

sysdeps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing system packages: $$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	  else \
	    echo "missing system packages: $$missing (run: sudo apt-get install $$missing)"; \
	  fi; \
	fi

db: venv
	@if [ -z "$$GEOPORTAL_DATABASE_URL" ]; then $(GEOPORTAL) db start; fi
	$(GEOPORTAL) migrate

lint: venv
	$(BIN)/ruff check geoportal tests bench migrations
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy geoportal

pytest: venv $(STYLE_VALIDATOR) $(LIGHTHOUSE)
	GEOPORTAL_LIGHTHOUSE_DIR=$(VENV)/node $(BIN)/pytest -q -p no:cacheprovider

$(STYLE_VALIDATOR):
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -q --no-install-recommends npm; }
	npm install --prefix $(VENV)/node --no-audit --no-fund --loglevel=error $(STYLE_SPEC)

$(LIGHTHOUSE): $(STYLE_VALIDATOR)
	PUPPETEER_SKIP_DOWNLOAD=1 npm install --prefix $(VENV)/node --no-audit --no-fund \
	  --loglevel=error $(STYLE_SPEC) $(LIGHTHOUSE_SPEC)

bench: setup
	$(BIN)/python -m bench

clean:
	-$(GEOPORTAL) db stop
	rm -rf $(VENV) .geoportal
