# The same commands as .ci/run. `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
READY  := $(VENV)/.ready

.PHONY: install demo test test-slow lint format clean

$(READY): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[dev]'
	touch $@

install: $(READY)

# The main job: the demo music catalog generated, ingested and indexed in ./ltrr-data (once: a
# second run reuses it and its saved indexes), then served over HTTP on 127.0.0.1:8000 until
# Ctrl-C.
demo: $(READY)
	test -f ltrr-data/ltrr.sqlite || $(BIN)/ltrr demo --data ltrr-data
	$(BIN)/ltrr index --data ltrr-data
	$(BIN)/ltrr serve --data ltrr-data

# Unit, contract and property tests on small slices and real data samples (a few minutes).
test: $(READY)
	$(BIN)/python -m pytest -n 2 -m "not slow"

# Full reference runs on complete data sets (minutes to hours).
test-slow: $(READY)
	$(BIN)/python -m pytest -m slow

lint: $(READY)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

format: $(READY)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) ltrr-data .pytest_cache .mypy_cache .ruff_cache
