# The way in on a fresh machine: `make test` and `make demo`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
# On Linux, TensorFlow turns its oneDNN kernels on by default only on CPUs with
# VNNI, bfloat16 or AMX instructions; on an AVX2-only CPU they train the Tetris net
# 1.3x faster (docs/scaling.md). Set TF_ENABLE_ONEDNN_OPTS=0 to compare.
export TF_ENABLE_ONEDNN_OPTS ?= 1

SOURCES := keras_se3 tests examples benchmarks datasets setup.py

.PHONY: test demo lint format bench clean

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

test: lint
	$(PY) -m pytest -n 2 tests

# The main job: the paper's Tetris experiment in a reduced setting (17^3 grid, one
# seed, steerable net and CNN), then collapse + ONNX export of the steerable net,
# checked in onnxruntime, and figures. Outputs in build/demo/.
DEMO_STEPS ?= 100
demo: $(STAMP)
	$(PY) examples/tetris.py --config small --seeds 1 --steps $(DEMO_STEPS) \
		--export build/demo --plots build/demo

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
	$(PY) benchmarks/export.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
