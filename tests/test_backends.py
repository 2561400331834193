"""Models move between Keras backends.

A ``.keras`` file of each paper net saved under another backend (in a fresh
process with that ``KERAS_BACKEND``) loads under this run's backend and computes
the same outputs. Each backend's run loads the other two backends' files, so the
three runs of ``make test`` cover every pair.
"""

import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

BACKENDS = ("tensorflow", "jax", "torch")
#: The three paper nets and the smallest grid each takes (its coarsest map > 1^3).
NETS = {"tetris_net": 9, "cath_resnet": 16, "shrec17_net": 33}
ROOT = pathlib.Path(__file__).resolve().parents[1]

_SAVE = textwrap.dedent(
    """
    import sys

    import keras
    import numpy as np

    from keras_se3 import models

    out, nets = sys.argv[1], eval(sys.argv[2])
    assert keras.backend.backend() == sys.argv[3], keras.backend.backend()
    for seed, (name, size) in enumerate(nets.items()):
        keras.utils.set_random_seed(seed)
        model = getattr(models, name)()
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(2, size, size, size, 1)).astype("float32")
        model(3 * x + 1, training=True)  # batch-norm statistics away from 0 and 1
        y = keras.ops.convert_to_numpy(model(x, training=False))
        model.save(f"{out}/{name}.keras")
        np.savez(f"{out}/{name}.npz", x=x, y=y)
    print("saved")
    """
)


def _save_under(backend, directory):
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-c", _SAVE, str(directory), repr(NETS), backend],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0 and "saved" in result.stdout, result.stderr[-3000:]


@pytest.mark.parametrize(
    "source", [b for b in BACKENDS if b != keras.backend.backend()]
)
def test_paper_nets_saved_under_another_backend_load_and_compute_the_same(
    source, tmp_path
):
    _save_under(source, tmp_path)
    for name in NETS:
        saved = np.load(tmp_path / f"{name}.npz")
        model = keras.saving.load_model(tmp_path / f"{name}.keras", safe_mode=True)
        y = keras.ops.convert_to_numpy(model(saved["x"], training=False))
        scale = np.abs(saved["y"]).max()
        assert scale > 1e-3, name  # a real output, not zeros
        error = np.abs(y - saved["y"]).max() / scale
        assert error <= 1e-5, f"{name} saved under {source}: relative error {error}"
