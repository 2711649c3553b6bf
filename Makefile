# Two commands on a fresh machine: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MO_FILES := $(patsubst %.po,%.mo,$(wildcard translations/*/LC_MESSAGES/messages.po))
AXE := $(VENV)/npm/node_modules/axe-core/axe.min.js
## The tests mostly wait (servers, fake APIs, timeouts): four workers on two cores take a third of the time.
PYTEST_WORKERS ?= 4

.PHONY: run chat test lint typecheck pytest bench translations extract update-catalogs compile-catalogs axe fuzz clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(VENV)/.installed-bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $@

%.mo: %.po | $(STAMP)
	$(VENV)/bin/pybabel compile --statistics -i $< -o $@

compile-catalogs: $(MO_FILES)

## axe-core for the browser tests (tests/browser), from npm into .venv (not in git). Without npm the
## browser tests skip outside CI and fail under it.
$(AXE): | $(PY)
	@if command -v npm >/dev/null; then \
		npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix $(VENV)/npm 'axe-core@4'; \
	else echo "npm not found: no axe-core, the browser tests will skip"; fi

axe: $(AXE)

## translations: check the content, extract strings (code + content), update every catalog, compile them.
## Nothing is written unless the content is valid; the template is written beside, then renamed.
translations: $(STAMP)
	$(PY) -m bot intents check >/dev/null
	$(VENV)/bin/pybabel extract -F babel.cfg --no-location --sort-by-file -c TRANSLATORS: \
		--project=tokutei-bot --copyright-holder="tokutei-bot" -o translations/messages.pot.new .
	mv translations/messages.pot.new translations/messages.pot
	$(VENV)/bin/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-pot-creation-date
	$(MAKE) compile-catalogs

run: $(STAMP) compile-catalogs
	$(PY) -m bot serve

chat: $(STAMP) compile-catalogs
	$(PY) -m bot chat

test: $(STAMP) compile-catalogs axe
	$(VENV)/bin/ruff check bot tests benchmarks
	$(VENV)/bin/ruff format --check bot tests benchmarks
	$(VENV)/bin/mypy
	$(PY) -m bot intents check
	$(VENV)/bin/pytest -q -n $(PYTEST_WORKERS)

bench: $(VENV)/.installed-bench compile-catalogs
	$(PY) -m benchmarks

## fuzz: over 10,000 hostile inputs against the served app (no 5xx, no crash, memory back); its section of docs/benchmarks.md.
fuzz: $(VENV)/.installed-bench compile-catalogs
	$(PY) -m benchmarks.fuzz

clean:
	rm -rf $(VENV) translations/*/LC_MESSAGES/*.mo
