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
.PHONY: help venv lab test release check-release grade clean lock bench-grading test-colab test-compat test-browser

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

# The student's path (separate from `make test`; each builds its own environment, outside git, once).
# A Python 3.12 for the Colab profile: python3.12 on PATH, else pyenv's.
PYTHON312 ?= $(firstword $(shell command -v python3.12 2>/dev/null) $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12))
COLAB_VENV ?= .venv-colab

$(COLAB_VENV)/bin/.installed: tests/colab/requirements-colab.txt
	@test -n "$(PYTHON312)" || { echo "error: make test-colab needs Python 3.12 (Colab's): install it (e.g. pyenv install 3.12) or run make test-colab PYTHON312=/path/to/python3.12" >&2; exit 1; }
	test -x $(COLAB_VENV)/bin/python || $(PYTHON312) -m venv $(COLAB_VENV)
	$(COLAB_VENV)/bin/python -m pip install --quiet -r tests/colab/requirements-colab.txt
	$(COLAB_VENV)/bin/python -m pip check >/dev/null || { $(COLAB_VENV)/bin/python -m pip check; exit 1; }
	touch $@

test-colab: venv $(COLAB_VENV)/bin/.installed ## run every lab on a Colab-like Python 3.12 stack, installed as the setup cell does (.venv-colab)
	PATH="$(abspath $(BIN)):$$PATH" COLAB_VENV="$(abspath $(COLAB_VENV))" $(BIN)/python -m pytest -p no:cacheprovider \
	    tests/colab/colab_profile.py -v -s $(PYTEST_ARGS)

release: venv ## regenerate notebooks/ from solutions/ (LAB=01_perceptron for one lab)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m autograder release $(LAB)

check-release: venv ## fail when notebooks/ is out of date with solutions/
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m autograder release --check $(LAB)

bench-grading: venv ## time stock nbgrader vs our autograder on a mixed batch of every lab, and one grade call; writes benchmarks/grading.md
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
