# musictag: the commands a new user runs. Everything installs into ./.venv from this tree.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DISTILL_OUT ?= distill_out

.PHONY: setup demo test test-quick bench distill clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,beam]'
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install musictag with the dev and beam extras

demo: $(STAMP)  ## synthetic data -> records -> train -> evaluate -> export -> tag
	$(BIN)/musictag demo --out_dir demo_out

test: $(STAMP)  ## the full test suite, as CI runs it
	$(BIN)/python -m pytest -q -ra

test-quick: $(STAMP)  ## skip the slow end-to-end tests
	$(BIN)/python -m pytest -q -ra -m "not slow"

bench: $(STAMP)  ## every benchmark in benchmarks/, each prints a table
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

distill: $(STAMP)  ## issue 13: corpus -> teacher -> records -> 3 students -> comparison (hours; resumes)
	PYTHON=$(BIN)/python scripts/distill.sh $(DISTILL_OUT)

clean:
	rm -rf $(VENV) demo_out .pytest_cache
