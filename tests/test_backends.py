"""Models move between Keras backends.

The three paper nets, saved as ``.keras`` under each backend, load under each of
the other two and compute the same outputs (<= 1e-5 relative). A backend is
chosen when Keras starts, so the other backends run in fresh processes
(``KERAS_BACKEND``): TensorFlow saves; PyTorch loads TensorFlow's files and
saves its own; JAX loads both and saves; PyTorch loads JAX's; TensorFlow loads
the other two. Every ordered pair of backends is covered once.
"""

import json
import os
import pathlib
import subprocess
import sys

import keras
import pytest

from tests.backend_step import step

#: The three paper nets and the smallest grid each takes (its coarsest map > 1^3).
NETS = {"tetris_net": 9, "cath_resnet": 16, "shrec17_net": 33}
ROOT = pathlib.Path(__file__).resolve().parents[1]


def _step(backend, save, loads, jax_cache):
    """Under ``backend``: load the nets in ``loads``, save into ``save``."""
    if backend == keras.backend.backend():  # this process: no start-up to pay
        return step(save, NETS, loads)
    # JAX compiles each loaded net's forward pass with XLA (~10 s for the CATH
    # ResNet); with its persistent cache it compiles each architecture once, not
    # three times (the weights are arguments of the program, not constants).
    env = dict(
        os.environ,
        KERAS_BACKEND=backend,
        PYTHONPATH=str(ROOT),
        JAX_COMPILATION_CACHE_DIR=str(jax_cache),
    )
    args = [str(save or "-"), json.dumps(NETS), *map(str, loads)]
    result = subprocess.run(
        [sys.executable, "-m", "tests.backend_step", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, f"{backend}: {result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.tensorflow_only  # it starts the other backends itself
def test_paper_nets_saved_under_each_backend_load_under_the_others(tmp_path):
    tf, jax, torch = (tmp_path / b for b in ("tensorflow", "jax", "torch"))
    cache = tmp_path / "jax-cache"
    errors = {}
    errors |= _step("tensorflow", tf, [], cache)
    errors |= _step("torch", torch, [tf], cache)
    errors |= _step("jax", jax, [tf, torch], cache)
    errors |= _step("torch", None, [jax], cache)
    errors |= _step("tensorflow", None, [jax, torch], cache)
    pairs = {key.split(":")[0] for key in errors}
    assert len(pairs) == 6 and len(errors) == 6 * len(NETS), sorted(errors)
    for key, (error, scale) in errors.items():
        assert scale > 1e-3, key  # a real output, not zeros
        assert error <= 1e-5, f"{key}: relative error {error}"
