"""Models saved by an older keras_se3 load, compute the same and export.

tests/data/saved_2026_12_02.keras was written by main of 2026-12-02 (commit
d5b6315, before the layers were restructured; tests/data/make_saved_model_fixture.py
says how): every layer type, with that time's argument names.
"""

import pathlib

import keras
import numpy as np

import keras_se3
from tests.backend import to_numpy

DATA = pathlib.Path(__file__).parent / "data"


def _load():
    # SE3ResidualBlock's `fields` of that time loads as hidden_fields, silently:
    # a saved file is not the user's code to fix.
    return keras.saving.load_model(DATA / "saved_2026_12_02.keras", safe_mode=True)


def test_an_older_saved_model_loads_and_computes_the_same():
    saved = np.load(DATA / "saved_2026_12_02.npz")
    model = _load()
    y = to_numpy(model(saved["x"], training=False))
    # Measured: identical. A tolerance, as other CPUs' kernels may round otherwise.
    scale = np.abs(saved["y"]).max()
    assert scale > 1e-3  # a real output, not zeros
    assert np.abs(y - saved["y"]).max() <= 1e-5 * scale
    block = next(
        layer
        for layer in model.layers
        if isinstance(layer, keras_se3.layers.SE3ResidualBlock)
    )
    assert str(block.hidden_fields) == "2x0 + 1x1"


def test_an_older_saved_model_collapses_and_trains_on():
    saved = np.load(DATA / "saved_2026_12_02.npz")
    model = _load()
    collapsed = keras_se3.collapse(model)
    y = to_numpy(collapsed(saved["x"], training=False))
    assert np.abs(y - saved["y"]).max() <= 1e-5 * np.abs(saved["y"]).max()
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    before = model.get_weights()
    history = model.fit(saved["x"], np.ones((2, 3)), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(np.abs(a - b).max() > 0 for a, b in zip(model.get_weights(), before))
