# Deep-learning foundations labs. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8888
LAB ?=
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv lab test release check-release grade clean lock bench-grading

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

# The stamp is rebuilt whenever the lock or the project metadata change.
$(BIN)/.installed: requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run: make PYTHON=/path/to/python3.11 $(MAKECMDGOALS)" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

venv: $(BIN)/.installed ## create or update .venv from requirements.lock

lab: venv ## start JupyterLab on notebooks/ (HOST=127.0.0.1 PORT=8888)
	@echo "Starting JupyterLab on http://$(HOST):$(PORT)/lab (Ctrl-C to stop)"
	exec $(BIN)/jupyter lab --no-browser --ip=$(HOST) --port=$(PORT) --port-retries=0 \
	    --ServerApp.root_dir=notebooks --ServerApp.allow_root=True

test: venv ## run the whole test suite
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)

release: venv ## regenerate notebooks/ from solutions/ (LAB=01_perceptron for one lab)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m autograder release $(LAB)

check-release: venv ## fail when notebooks/ is out of date with solutions/
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m autograder release --check $(LAB)

bench-grading: venv ## time stock nbgrader vs our autograder on 20 Lab 01 submissions; writes benchmarks/grading.md
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/bench_grading.py

lock: ## re-resolve requirements.lock in a scratch venv (maintainers)
	rm -rf /tmp/lock-venv && $(PYTHON) -m venv /tmp/lock-venv
	/tmp/lock-venv/bin/python -m pip install --quiet --upgrade pip
	/tmp/lock-venv/bin/python -m pip install --quiet torch==2.13.0 -e '.[dev]'
	/tmp/lock-venv/bin/python -m pip freeze --exclude-editable > requirements.lock.new
	@echo "Review requirements.lock.new (torch's +cpu suffix, tensorflow markers), then move it over requirements.lock"

clean: ## remove caches (keeps .venv)
	rm -rf .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +
