VENV ?= .venv
PY := $(VENV)/bin/python
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1

.PHONY: demo test lint fuzz bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all,dev]'
	touch $@

demo: $(VENV)/.installed
	$(PY) -m alta.demo

test: $(VENV)/.installed
	$(PY) -m pytest -q tests

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check alta tests benchmarks
	$(VENV)/bin/ruff format --check alta tests benchmarks
	$(VENV)/bin/mypy alta

# Extra pytest arguments, e.g. `make fuzz FUZZ_ARGS="--hypothesis-seed=3 -x"`.
FUZZ_ARGS ?=

fuzz: $(VENV)/.installed
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q tests -k fuzz $(FUZZ_ARGS)

bench: $(VENV)/.installed
	$(PY) benchmarks/interpreter.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
