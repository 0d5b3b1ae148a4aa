# Two commands matter on a fresh clone: `make up` and `make test`.
# The code runs from the repository root (python -m ...); `make install` installs it in editable
# mode (no dependencies: those come from the lock) only to put the `saga` CLI on .venv/bin.
# Both bootstrap .venv from requirements.lock first; nothing else needs installing.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install up demo chaos test lint bench lock clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

up: install
	$(BIN)/python -m devstack

demo: install
	$(BIN)/python -m devstack.demo

# Sagas while faults are injected and processes killed, then the invariant checker
# (docs/reliability.md). CHAOS_ARGS="--sagas 50 --seed 7" to change the run.
chaos: install
	$(BIN)/python -m devstack.chaos $(CHAOS_ARGS)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Orchestration, choreography and the bare-Temporal floor side by side; BENCH_ARGS to tune.
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bench choreography common orchestrator services workflows devstack scripts tests

# Regenerate the locks after editing pyproject.toml (needs pip-tools, not part of the lock):
# requirements.lock for development and CI, requirements.runtime.lock for the Docker image.
lock:
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --extra dev --strip-extras --no-emit-index-url \
		--no-emit-find-links -o requirements.lock pyproject.toml
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url \
		--no-emit-find-links -o requirements.runtime.lock pyproject.toml

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
