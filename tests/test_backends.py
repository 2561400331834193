"""Models move between Keras backends.

Each of the three paper nets (one test each), saved as ``.keras`` under each
backend, loads under each of the other two and computes the same outputs (<= 1e-5
relative). A backend is chosen when Keras starts, so the other backends run in
fresh processes (``KERAS_BACKEND``), two at a time: TensorFlow saves; PyTorch
and JAX load TensorFlow's files and save their own; PyTorch loads JAX's, JAX
PyTorch's and TensorFlow both. Every ordered pair of backends is covered once.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from tests.backend_step import step

#: The three paper nets and the smallest grid each takes (its coarsest map > 1^3).
NETS = {"tetris_net": 9, "cath_resnet": 16, "shrec17_net": 33}
ROOT = pathlib.Path(__file__).resolve().parents[1]


def _start(backend, nets, save, loads, jax_cache):
    """Under ``backend``, in a new process: load the ``nets`` in ``loads``, save
    into ``save``."""
    # JAX compiles each loaded net's forward pass with XLA (~10 s for the CATH
    # ResNet); with its persistent cache it compiles each architecture once, not
    # three times (the weights are arguments of the program, not constants).
    env = dict(
        os.environ,
        KERAS_BACKEND=backend,
        PYTHONPATH=str(ROOT),
        JAX_COMPILATION_CACHE_DIR=str(jax_cache),
    )
    args = [str(save or "-"), json.dumps(nets), *map(str, loads)]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.backend_step", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.backend = backend
    return process


def _results(processes):
    """The errors the processes print (each must exit 0)."""
    errors = {}
    for process in processes:
        try:
            out, err = process.communicate(timeout=900)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        assert process.returncode == 0, f"{process.backend}: {err[-3000:]}"
        errors |= json.loads(out.strip().splitlines()[-1])
    return errors


@pytest.mark.tensorflow_only  # it starts the other backends itself
@pytest.mark.parametrize("net", NETS)
def test_paper_nets_saved_under_each_backend_load_under_the_others(net, tmp_path):
    nets = {net: NETS[net]}  # one net per test: each under a minute
    tf, jax, torch = (tmp_path / b for b in ("tensorflow", "jax", "torch"))
    cache = tmp_path / "jax-cache"
    # TensorFlow (this process) saves; PyTorch and JAX, side by side, load its
    # files and save their own; then each loads the third backend's files.
    errors = step(tf, nets, [])
    second = [
        _start("torch", nets, torch, [tf], cache),
        _start("jax", nets, jax, [tf], cache),
    ]
    errors |= _results(second)
    last = [
        _start("torch", nets, None, [jax], cache),
        _start("jax", nets, None, [torch], cache),
    ]
    errors |= step(None, nets, [jax, torch])
    errors |= _results(last)
    pairs = {key.split(":")[0] for key in errors}
    assert len(pairs) == 6 and len(errors) == 6, sorted(errors)
    for key, (error, scale) in errors.items():
        assert scale > 1e-3, key  # a real output, not zeros
        assert error <= 1e-5, f"{key}: relative error {error}"
