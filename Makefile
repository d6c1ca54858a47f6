# newsmon — `make demo` and `make test` are the whole set-up (see README).
SHELL := /bin/bash
.DEFAULT_GOAL := help
# The interpreter the virtualenv is created with; empty: the fastest CPython 3.11 found
# (deploy/pick-python). An existing .venv keeps its own: remove it to rebuild.
PYTHON ?=
VENV ?= .venv
BIN := $(VENV)/bin
NEWSMON := $(BIN)/newsmon
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help venv system-deps kafka-jars demo test test-fast bench soak up down status lint format typecheck schemas clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { \
	  py="$(PYTHON)"; \
	  if [ -z "$$py" ]; then py=$$(deploy/pick-python) || exit 1; fi; \
	  echo "creating $(VENV) with $$py"; \
	  "$$py" -m venv $(VENV); \
	}
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP) ## Create the virtualenv and install newsmon with its dev tools

system-deps: ## Install Java, Maven, Prometheus and docker-compose (config check only) from Debian's packages when missing
	@missing=""; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

kafka-jars: $(STAMP) ## Fetch the Apache Kafka jars from Maven Central (cached)
	$(NEWSMON) broker fetch

demo: $(STAMP) kafka-jars ## Start everything, replay seeds/, print the alerts
	$(BIN)/python -m newsmon.ops.demo

up: $(STAMP) kafka-jars ## Start broker + services (+ Prometheus) in the background
	$(NEWSMON) up

down: ## Stop the services, Prometheus and the broker
	@if [ -x $(NEWSMON) ]; then $(NEWSMON) down; else echo "nothing to stop"; fi

status: ## Show what runs
	$(NEWSMON) status

test: $(STAMP) system-deps kafka-jars ## Run the whole test suite against a real broker
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: $(STAMP) ## Unit and stream tests only (no broker)
	$(BIN)/pytest tests/unit tests/stream $(PYTEST_ARGS)

bench: $(STAMP) kafka-jars ## Measure the pipeline against its limits (bench/results.json)
	$(BIN)/python -m bench.run

soak: $(STAMP) system-deps kafka-jars ## The full 10,000-article soak test
	NEWSMON_SOAK_ARTICLES=10000 $(BIN)/pytest tests/fault -k soak -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check + format check
	$(BIN)/ruff check services tests
	$(BIN)/ruff format --check services tests

format: $(STAMP) ## Format the code
	$(BIN)/ruff format services tests
	$(BIN)/ruff check --fix services tests

typecheck: $(STAMP) ## mypy
	$(BIN)/mypy

schemas: $(STAMP) ## Regenerate schemas/ from the models
	$(NEWSMON) schemas export

clean: down ## Remove the state folder
	rm -rf .newsmon
