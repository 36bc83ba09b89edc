# Two commands matter: `make run` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi

.PHONY: run serve test lint format bench clean translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

PORT ?= 5000

# Message catalogues: translations/<locale>/LC_MESSAGES/messages.po is committed, its
# compiled .mo is not; run, serve and test compile whichever .po changed.
CATALOGUES := $(patsubst %.po,%.mo,$(wildcard translations/*/LC_MESSAGES/messages.po))
# The extraction keywords beside Babel's defaults (tests/i18n/test_catalogue.py uses the same).
BABEL_KEYWORDS := -k _l -k lazy_gettext -k lazy_pgettext:1c,2

translations/%.mo: translations/%.po | $(VENV)/.runtime
	$(BIN)/pybabel compile --statistics -i $< -o $@

## translations: extract every marked string into messages.pot and merge it into each
## language's messages.po (then translate what is new or fuzzy; see the README)
translations: $(VENV)/.runtime
	$(BIN)/pybabel extract -F babel.cfg $(BABEL_KEYWORDS) --no-location --sort-output \
		--project "BI Platform" -o messages.pot .
	$(BIN)/pybabel update -i messages.pot -d translations --ignore-obsolete

## run: install, create or upgrade the database, serve on http://127.0.0.1:$(PORT) and deliver
## mail with a worker inside the same process (make run PORT=5001 for another port)
run: $(VENV)/.runtime $(CATALOGUES)
	BASE_URL=$${BASE_URL:-http://127.0.0.1:$(PORT)} $(FLASK) init-db
	BASE_URL=$${BASE_URL:-http://127.0.0.1:$(PORT)} SMTP_ALLOW_LOOPBACK=$${SMTP_ALLOW_LOOPBACK:-1} \
		NOTIFIER_EMBEDDED=1 $(FLASK) run --host 127.0.0.1 --port $(PORT)

## serve: production-style: gunicorn (gunicorn.conf.py) plus one delivery worker
serve: $(VENV)/.runtime $(CATALOGUES)
	BIN=$(BIN) deploy/serve.sh

## test: lint, check formatting, run the whole suite
test: $(VENV)/.dev $(CATALOGUES)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## bench: the benchmarks in bench/ (not part of `make test`)
bench: $(VENV)/.dev
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
