# The way in on a fresh machine: `make test` and `make demo`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

SOURCES := keras_se3 tests examples benchmarks datasets setup.py

.PHONY: test demo lint format bench clean

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

test: lint
	$(PY) -m pytest -n 2 tests

demo: $(STAMP)
	$(PY) examples/quickstart.py

lint: $(STAMP)
	$(VENV)/bin/ruff check $(SOURCES)
	$(VENV)/bin/ruff format --check $(SOURCES)

format: $(STAMP)
	$(VENV)/bin/ruff check --fix $(SOURCES)
	$(VENV)/bin/ruff format $(SOURCES)

bench: $(STAMP)
	$(PY) benchmarks/conv_overhead.py
	$(PY) benchmarks/equivariance.py --kernel-size 3 5 7
	$(PY) benchmarks/init_scale.py
	$(PY) benchmarks/paper_nets.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
