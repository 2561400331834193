# The way in on a fresh machine: `make test` and `make demo`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: test demo lint format bench clean

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n 2 tests

demo: $(STAMP)
	$(PY) examples/quickstart.py

lint: $(STAMP)
	$(VENV)/bin/ruff check keras_se3 tests examples benchmarks
	$(VENV)/bin/ruff format --check keras_se3 tests examples benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff check --fix keras_se3 tests examples benchmarks
	$(VENV)/bin/ruff format keras_se3 tests examples benchmarks

bench: $(STAMP)
	$(PY) benchmarks/conv_overhead.py
	$(PY) benchmarks/equivariance.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
