"""The test processes' environment; for docstring examples (doctests), the names
they may use without importing them and a temporary working directory for the
files some of them write.  pytest loads this file first (before tests/conftest.py)."""

import os

# Before anything imports numpy or TensorFlow (this file is the first to).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# One OpenBLAS thread per test process (set before numpy loads it): with `-n 2` on
# 2 cores, OpenBLAS's spinning threads of both workers and TensorFlow's thread
# pools fought over the cores, and the small linear algebra of the kernel bases
# ran up to 100x slower (0.5 s alone, 51 s in the suite).  Subprocesses of the
# tests inherit the setting, so a basis computed in a fresh process is computed
# with the same threads (with 2 threads instead of 1, OpenBLAS rounds some
# Clebsch-Gordan change-of-basis entries differently, by 3e-15).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# XLA (JAX's compiler) without its LLVM optimisation passes: the same operations,
# compiled in about half the time (a JAX process computing the three paper nets'
# outputs: 41 -> 28 s).  The tests check what is computed, the benchmarks how fast.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import keras_se3  # noqa: E402


@pytest.fixture(autouse=True)
def _doctest_names(request):
    if not isinstance(request.node, pytest.DoctestItem):
        return
    namespace = request.getfixturevalue("doctest_namespace")
    namespace.update(np=np, keras=keras, keras_se3=keras_se3)
    # Examples that save a figure write it here, not into the checkout.
    request.getfixturevalue("monkeypatch").chdir(request.getfixturevalue("tmp_path"))
