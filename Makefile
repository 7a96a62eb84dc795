# Deep-learning foundations labs. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8888
LAB ?=
PYTEST_ARGS ?=
# make test runs the suite on this many pytest-xdist workers (2 cores: 2); TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2

.DEFAULT_GOAL := help
.PHONY: help venv lab test release check-release grade clean lock sweep bench-grading bench-report test-colab test-compat test-browser compat-newest

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

test: venv ## run the whole test suite (on TEST_WORKERS=2 pytest-xdist workers)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# The student's path (separate from `make test`; each builds its own environment, outside git, once).
# find_python,X.Y: the first python<X.Y> that runs: pyenv's installed versions, then PATH (a pyenv shim
# for a version that is installed but not selected does not run).
find_python = $(shell for p in $(wildcard $(HOME)/.pyenv/versions/$(1)*/bin/python$(1)) python$(1); do \
    $$p -c '' 2>/dev/null && { command -v $$p; break; }; done)
PYTHON312 ?= $(call find_python,3.12)
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

BROWSER_VENV ?= .venv-browser
CHROMIUM ?= /usr/bin/chromium
BROWSER_SCREENSHOTS ?= build/browser-screenshots

$(BROWSER_VENV)/bin/.installed: tests/browser/requirements-browser.txt
	test -x $(BROWSER_VENV)/bin/python || $(PYTHON) -m venv $(BROWSER_VENV)
	$(BROWSER_VENV)/bin/python -m pip install --quiet -r tests/browser/requirements-browser.txt
	touch $@

test-browser: venv $(BROWSER_VENV)/bin/.installed ## drive every lab through JupyterLab in Debian's Chromium (Playwright); screenshots in BROWSER_SCREENSHOTS
	@test -x $(CHROMIUM) || { echo "error: $(CHROMIUM) not found. make test-browser uses Debian's Chromium, never a downloaded browser: run 'apt-get install -y chromium' (as root), or set CHROMIUM=/path/to/chromium" >&2; exit 1; }
	rm -rf $(BROWSER_SCREENSHOTS) && mkdir -p $(BROWSER_SCREENSHOTS)
	CHROMIUM="$(CHROMIUM)" BROWSER_JUPYTER="$(abspath $(BIN))/jupyter" BROWSER_SCREENSHOTS="$(abspath $(BROWSER_SCREENSHOTS))" \
	    $(BROWSER_VENV)/bin/python -m pytest -p no:cacheprovider tests/browser/browser_check.py -v -s $(PYTEST_ARGS)
	@echo "Screenshots of every widget: $(BROWSER_SCREENSHOTS)/<lab>/{solution,student}/"

# The version range: the oldest versions pyproject.toml claims (Python 3.10) and the newest PyPI offers (Python 3.13).
PYTHON310 ?= $(call find_python,3.10)
PYTHON313 ?= $(call find_python,3.13)

.venv-compat-oldest/bin/.installed: tests/compat/requirements-oldest.txt
	@test -n "$(PYTHON310)" || { echo "error: the oldest profile needs Python 3.10: install it or set PYTHON310=/path/to/python3.10" >&2; exit 1; }
	test -x .venv-compat-oldest/bin/python || $(PYTHON310) -m venv .venv-compat-oldest
	.venv-compat-oldest/bin/python -m pip install --quiet -r tests/compat/requirements-oldest.txt
	touch $@

# Always upgraded: "newest" means what PyPI offers today. PIP_CONSTRAINT=/dev/null: a machine-wide pip
# constraint (as on some build machines) must not hold the newest torch back.
compat-newest:
	@test -n "$(PYTHON313)" || { echo "error: the newest profile needs Python 3.13: install it or set PYTHON313=/path/to/python3.13" >&2; exit 1; }
	test -x .venv-compat-newest/bin/python || $(PYTHON313) -m venv .venv-compat-newest
	PIP_CONSTRAINT=/dev/null .venv-compat-newest/bin/python -m pip install --quiet --upgrade -r tests/compat/requirements-newest.txt

test-compat: venv .venv-compat-oldest/bin/.installed compat-newest ## run the labs and course_utils tests on the oldest and newest supported versions
	PATH="$(abspath $(BIN)):$$PATH" COMPAT_VENV="$(abspath .venv-compat-oldest)" $(BIN)/python -m pytest -p no:cacheprovider \
	    tests/compat/compat_profile.py -v -s $(PYTEST_ARGS)
	PATH="$(abspath $(BIN)):$$PATH" COMPAT_VENV="$(abspath .venv-compat-newest)" $(BIN)/python -m pytest -p no:cacheprovider \
	    tests/compat/compat_profile.py -v -s $(PYTEST_ARGS)

release: venv ## regenerate notebooks/ from solutions/ (LAB=01_perceptron for one lab)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m autograder release $(LAB)

check-release: venv ## fail when notebooks/ is out of date with solutions/
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m autograder release --check $(LAB)

SWEEP_SEEDS ?= 3000
sweep: venv ## run every hidden test against its solution for SWEEP_SEEDS seeds (3000: false-fail rate < 1e-3); writes benchmarks/seed-sweep.md
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/seed_sweep.py --seeds $(SWEEP_SEEDS) $(LAB)

bench-grading: venv ## time stock nbgrader vs our autograder on a mixed batch of every lab, and one grade call; writes benchmarks/grading.md
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/bench_grading.py

bench-report: venv ## time `export` and `report` on a synthetic class of 300 students x 6 labs; writes benchmarks/report.md
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/bench_report.py --output benchmarks/report.md

lock: ## re-resolve requirements.lock in a scratch venv (maintainers)
	rm -rf /tmp/lock-venv && $(PYTHON) -m venv /tmp/lock-venv
	/tmp/lock-venv/bin/python -m pip install --quiet --upgrade pip
	/tmp/lock-venv/bin/python -m pip install --quiet torch==2.13.0 -e '.[dev]'
	/tmp/lock-venv/bin/python -m pip freeze --exclude-editable > requirements.lock.new
	@echo "Review requirements.lock.new (torch's +cpu suffix, tensorflow markers), then move it over requirements.lock"

clean: ## remove caches (keeps .venv)
	rm -rf .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +
