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
# test-latest compares two files with bash's <(...).
SHELL := /bin/bash

SOURCES := conftest.py keras_se3 tests examples benchmarks datasets docs/build_api.py setup.py

.PHONY: test demo lint format bench clean reference-check reference-parity reference-train reference-fixture

# The test environment is the lock file's, every package at its exact version
# (transitive ones included), so that a new release upstream cannot break a fresh
# clone's `make test`; the package itself goes on top without its dependencies.
# setup.py keeps version ranges: users get the newest releases those allow
# (`make test-latest` tries them). `make lock` regenerates the lock.
LOCK := requirements/test.txt

$(STAMP): setup.py $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Resolve setup.py's `test` extra to exact versions (pip-tools, in a venv of its
# own), for the Python that runs it (the lock's header names it).
LOCK_VENV ?= build/lock-venv
.PHONY: lock
lock:
	test -x $(LOCK_VENV)/bin/python || $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet "pip-tools==7.7.0"
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet --upgrade \
		--extra test --strip-extras --allow-unsafe --no-emit-index-url \
		--no-emit-find-links \
		--output-file $(LOCK) setup.py
	sed -i "2i# Python $$($(LOCK_VENV)/bin/python -c 'import platform; print(platform.python_version())') on $$(uname -m)" $(LOCK)

# Early warning, not part of CI: a throw-away venv with the newest releases that
# setup.py's ranges allow, and the fast tier (`make test-fast`) plus the API
# reference check in it. A failure here is what users installing today will hit.
LATEST_VENV ?= build/latest-venv
# `name==version` lines, names normalised (pip freeze writes Jinja2, ml_dtypes);
# setuptools and wheel, which pip freeze leaves out, left out of both.
PINS := grep -E '^[A-Za-z0-9]' | grep -v -E '^(setuptools|wheel|pip)==' | tr 'A-Z_' 'a-z-' | sort
.PHONY: test-latest
test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade -e ".[test]"
	$(LATEST_VENV)/bin/python -m pip freeze > $(LATEST_VENV)/freeze.txt
	diff <(cat $(LOCK) | $(PINS)) <(cat $(LATEST_VENV)/freeze.txt | $(PINS)) \
		&& echo "the newest releases are the lock's" \
		|| echo "(above: the lock (<) against the newest releases (>))"
	$(MAKE) --no-print-directory fast-tier docs-check-run PY=$(LATEST_VENV)/bin/python

# The docstring examples run too (conftest.py gives them np, keras, keras_se3).
# Then the portable tests (layers, models, bases, .keras files, collapse:
# PORTABLE in tests/conftest.py) again on each other Keras backend, less those
# marked slow (the deep nets' training steps: JAX compiles each new shape, and
# they would double the suite's time); tests/test_backends.py moves the three
# paper nets between all three backends from the TensorFlow run.
# Each pass lists its 15 slowest tests: where the budget (12 min on 2 AVX-512
# cores, 30 on AVX2) goes; 11-13 min on a 2-core AVX-512 EPYC (docs/design.md).
OTHER_BACKENDS ?= jax torch
DURATIONS ?= --durations=15
test: lint
	$(PY) -m pytest -n 2 $(DURATIONS) tests
	for backend in $(OTHER_BACKENDS); do \
		KERAS_BACKEND=$$backend $(PY) -m pytest -n 2 $(DURATIONS) -m "not slow" tests || exit 1; \
	done
	$(PY) -m pytest -q -p no:randomly --doctest-modules keras_se3

# While developing: on TensorFlow, every test but those marked `slow` (the
# end-to-end script runs and the deep nets; pyproject.toml), and the docstring
# examples, in under 2 minutes on 2 cores. `make test` adds the slow tests and the
# JAX and PyTorch runs of the portable ones (JAX alone compiles for minutes).
.PHONY: test-fast fast-tier
test-fast: $(STAMP) fast-tier

fast-tier:
	$(PY) -m pytest -n 2 -m "not slow" tests
	$(PY) -m pytest -q -p no:randomly --doctest-modules keras_se3

# The main job: the paper's Tetris experiment in a reduced setting (17^3 grid, one
# seed, steerable net and CNN trained on the canonical pieces at random sub-voxel
# offsets, tested on 100 pieces per rotated split), then collapse + ONNX export of
# the steerable net, checked in onnxruntime, and figures. Outputs in build/demo/.
# 160 steps: with the recipe's triple products every seed tried (0, 1, 4 at 160;
# 0-4 at 200) fitted all 8 pieces and classified every re-voxelised rotation
# (docs/results.md); 100 test pieces per split keep the whole job under 10 min.
DEMO_STEPS ?= 160
demo: $(STAMP)
	$(PY) examples/tetris.py --config small --seeds 1 --steps $(DEMO_STEPS) \
		--test-pieces 100 --export build/demo --plots build/demo

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
	$(PY) benchmarks/backends.py

# The API reference: HTML from the docstrings (pdoc) in build/docs/. `docs-check`
# builds it too and fails on any warning; `make test` runs it.
.PHONY: docs docs-check
docs: $(STAMP)
	$(PY) docs/build_api.py --output build/docs

.PHONY: docs-check-run
docs-check: $(STAMP) docs-check-run

docs-check-run:
	$(PY) docs/build_api.py --check --output build/docs

test: docs-check

# Side by side with the paper's own code (benchmarks/reference/README.md): not part
# of `make test`. REFERENCE is an e3nn checkout at commit fca7227c; the reference
# runs in its own venv (PyTorch CPU, numpy < 2).
REFERENCE ?=
REF_VENV ?= build/reference/venv
REF_OUT ?= build/reference
REF_PY := $(REF_VENV)/bin/python
REF_SEEDS ?= 0 1 2 3 4
REF_STEPS ?= 250
REF_PIECES ?= script

$(REF_VENV)/.installed: benchmarks/reference/requirements.txt
	test -x $(REF_PY) || $(PYTHON) -m venv $(REF_VENV)
	$(REF_PY) -m pip install --quiet -r benchmarks/reference/requirements.txt
	touch $@

reference-check:
	@test -n "$(REFERENCE)" || { echo "set REFERENCE=<e3nn checkout at commit fca7227c>, e.g. make $(MAKECMDGOALS) REFERENCE=../e3nn"; exit 2; }

# Forward and gradient parity at 20^3 and at the paper's 36^3, float32 and float64.
reference-parity: reference-check $(STAMP) $(REF_VENV)/.installed
	$(REF_PY) benchmarks/reference/reference_side.py --tree $(REFERENCE) --size 12 --pad 4 --out $(REF_OUT)/parity_20.npz
	$(REF_PY) benchmarks/reference/reference_side.py --tree $(REFERENCE) --size 12 --pad 4 --float64 --out $(REF_OUT)/parity_20_f64.npz
	$(REF_PY) benchmarks/reference/reference_side.py --tree $(REFERENCE) --size 20 --pad 8 --out $(REF_OUT)/parity_36.npz
	$(REF_PY) benchmarks/reference/reference_side.py --tree $(REFERENCE) --size 20 --pad 8 --float64 --out $(REF_OUT)/parity_36_f64.npz
	$(PY) benchmarks/reference/parity.py $(REF_OUT)/parity_20.npz --json $(REF_OUT)/parity_20.json
	$(PY) benchmarks/reference/parity.py $(REF_OUT)/parity_20_f64.npz --json $(REF_OUT)/parity_20_f64.json
	$(PY) benchmarks/reference/parity.py $(REF_OUT)/parity_36.npz --json $(REF_OUT)/parity_36.json
	$(PY) benchmarks/reference/parity.py $(REF_OUT)/parity_36_f64.npz --json $(REF_OUT)/parity_36_f64.json

# Training side by side: for each seed the reference trains (its own script,
# REF_STEPS steps, then 100 test sets of 8 drawn as it draws them), and keras_se3's
# tetris_net trains from the same start on the same volumes with the same schedule
# and is tested on the same pieces. About 45 min per seed and side at 20^3 on 2 cores.
# REF_PIECES=equal-cubes: the paper's pieces (equal cubes) instead of the script's.
# REF_OURS=0: the reference side only (its accuracy per seed; half the time).
REF_OURS ?= 1
reference-train: reference-check $(STAMP) $(REF_VENV)/.installed
	for seed in $(REF_SEEDS); do \
		out=$(REF_OUT)/train_20_$(REF_PIECES)_seed$$seed; \
		$(REF_PY) benchmarks/reference/reference_side.py --tree $(REFERENCE) --size 12 --pad 4 \
			--pieces $(REF_PIECES) --seed $$seed --steps $(REF_STEPS) --tests 100 \
			--out $$out.npz || exit 1; \
		if [ "$(REF_OURS)" != 0 ]; then \
			$(PY) benchmarks/reference/parity.py $$out.npz --json $$out.json || exit 1; \
		fi; \
	done

# The recording behind tests/models/test_reference_training.py (16^3, 10 steps,
# dropout 0).
reference-fixture: reference-check $(STAMP) $(REF_VENV)/.installed
	$(REF_PY) benchmarks/reference/reference_side.py --tree $(REFERENCE) --size 8 --pad 4 \
		--seed 0 --steps 10 --dropout 0 --out $(REF_OUT)/fixture_16.npz
	$(PY) benchmarks/reference/parity.py $(REF_OUT)/fixture_16.npz \
		--fixture tests/models/data/reference_tetris_16.npz

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
