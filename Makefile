# Escalation Portal. `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ADDRPORT ?= 127.0.0.1:8000
export PYTHONDONTWRITEBYTECODE := 1

.DEFAULT_GOAL := help
.PHONY: help setup run test lint format bench graph clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	@touch $@

setup: $(STAMP) ## Create the virtualenv and install pinned dependencies

run: $(STAMP) ## Set up, migrate, load demo data once, serve web + worker + beat
	DEBUG=1 $(BIN)/python manage.py migrate --no-input
	DEBUG=1 $(BIN)/python manage.py seed_demo --if-empty --addrport $(ADDRPORT)
	DEBUG=1 $(BIN)/python manage.py runall --addrport $(ADDRPORT)

# axe-core for the browser tests' accessibility checks: from the npm registry, used only by
# the tests, kept out of git (tests/e2e/node_modules).
AXE := tests/e2e/node_modules/axe-core/axe.min.js
$(AXE):
	npm install --prefix tests/e2e --no-save --no-package-lock --no-audit --no-fund axe-core@4.14.1

test: $(STAMP) $(AXE) ## Set up and run the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check, ruff format --check, makemigrations --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) ## Print the benchmark figures (see docs/benchmarks.md)
	$(BIN)/python -m benchmarks

graph: $(STAMP) ## Draw the state machines: docs/state-machines.svg and the incident page's layout
	DEBUG=1 $(BIN)/python manage.py draw_escalation_layout
	DEBUG=1 $(BIN)/python manage.py graph_transitions incidents.Incident incidents.Escalation -o docs/state-machines.svg
	@rm -f docs/state-machines  # graphviz leaves its dot source beside the picture

clean: ## Remove the virtualenv and local data under var/
	rm -rf $(VENV) var
