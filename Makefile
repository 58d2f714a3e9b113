# The two set-up commands are `make run` and `make test`; everything else is optional.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: install run test lint test-deep clean deploy bench audit

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tradeapp needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==26.3
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
	$(BIN)/cfn-lint infra/*.yaml

test: lint
	$(BIN)/python -m pytest -m "not deep"

test-deep: install
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }
	$(BIN)/python -m pytest -m deep

# Needs AWS credentials for the stage's account, and zappa installed in the venv.
# zappa_settings.json's stream event ARN must be the stack output TradesStreamArn (Zappa's
# handler routes stream records by eventSourceARN); copying it there is not automated:
#   aws cloudformation describe-stacks --stack-name tradeapp-$(STAGE) \
#     --query "Stacks[0].Outputs[?OutputKey=='TradesStreamArn'].OutputValue" --output text
# Zappa 0.63 cannot create the stream mapping (no StartingPosition, no failure settings):
# deploy.stream_mapping creates or corrects it once the function exists.
deploy: install
	@test -n "$(STAGE)" || { echo "usage: make deploy STAGE=dev|prod"; exit 2; }
	aws cloudformation deploy --stack-name tradeapp-$(STAGE) --template-file infra/tradeapp.yaml \
		--region $$($(BIN)/python -c 'import json; print(json.load(open("zappa_settings.json"))["$(STAGE)"]["aws_region"])') \
		--capabilities CAPABILITY_NAMED_IAM --no-fail-on-empty-changeset \
		--parameter-overrides Stage=$(STAGE) FunctionName=tradeapp-$(STAGE) \
		AllowedOrigins=$${ALLOWED_ORIGINS:?set ALLOWED_ORIGINS to the web app origins, comma-separated}
	$(BIN)/zappa update $(STAGE) || $(BIN)/zappa deploy $(STAGE)
	$(BIN)/python -m deploy.stream_mapping $(STAGE)

# Known vulnerabilities in the runtime pins, from PyPI's advisory data (pip-audit in its own venv).
# --strict: a package that cannot be audited fails the run, rather than being skipped in silence.
AUDIT_VENV ?= .venv-audit
AUDIT_STAMP := $(AUDIT_VENV)/.installed-$(shell cksum < requirements-audit.txt | cut -d' ' -f1)
$(AUDIT_STAMP): requirements-audit.txt
	rm -rf $(AUDIT_VENV)
	$(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python -m pip install --quiet -r requirements-audit.txt
	touch $(AUDIT_STAMP)

audit: $(AUDIT_STAMP)
	$(AUDIT_VENV)/bin/pip-audit -r requirements.txt --strict --progress-spinner off

# Benchmarks: one table, every figure a ratio to a floor measured in the same run (BENCHMARKS.md).
bench: install
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) $(AUDIT_VENV) var .pytest_cache
