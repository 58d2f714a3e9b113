# The two set-up commands are `make run` and `make test`; everything else is optional.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: install run test lint test-deep clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tradeapp needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: install
	@echo "API:     http://127.0.0.1:5000/v1/health"
	@echo "Docs:    http://127.0.0.1:5000/v1/docs"
	@echo "Token:   $(BIN)/flask --app wsgi token alice"
	$(BIN)/flask --app wsgi run --host 127.0.0.1 --port 5000

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest -m "not deep"

test-deep: install
	$(BIN)/python -m pytest -m deep

clean:
	rm -rf $(VENV) var .pytest_cache
