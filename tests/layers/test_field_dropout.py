import keras
import numpy as np
import pytest

from keras_se3 import FieldType, so3
from keras_se3.layers import FieldDropout
from keras_se3.transforms import rotate_grid
from tests.backend import to_numpy

FIELDS = "2x0 + 1x1 + 1x2 + 1x0 + 1x3"


def _random_input(field_type, size=5, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    dim = FieldType(field_type).dim
    return rng.normal(size=(batch, size, size, size, dim)).astype("float32")


def test_identity_at_inference():
    layer = FieldDropout(FIELDS, 0.5, seed=0)
    x = _random_input(FIELDS)
    np.testing.assert_array_equal(to_numpy(layer(x)), x)
    np.testing.assert_array_equal(to_numpy(layer(x, training=False)), x)


def test_one_draw_per_sample_and_field():
    fields = FieldType(FIELDS)
    layer = FieldDropout(fields, 0.5, seed=1)
    x = np.ones((64, 3, 3, 3, fields.dim), "float32")
    y = to_numpy(layer(x, training=True))
    assert set(np.unique(y)) <= {0.0, 2.0}
    for piece in fields.slices():
        block = y[..., piece].reshape(64, -1)
        # The same value over all positions and components of the field.
        assert np.all(block == block[:, :1])
    kept = y[:, 0, 0, 0, :][:, [p.start for p in fields.slices()]] > 0
    assert 0 < kept.mean() < 1


def test_equivariant_for_a_shared_mask():
    # With the same draw (same seed) the masked map rotates with the input.
    x = _random_input(FIELDS, size=5, batch=4)
    y = to_numpy(FieldDropout(FIELDS, 0.4, seed=3)(x, training=True))
    for rotation in so3.cube_rotations()[::4]:
        layer = FieldDropout(FIELDS, 0.4, seed=3)
        y_rot = to_numpy(layer(rotate_grid(x, rotation, FIELDS), training=True))
        np.testing.assert_allclose(
            y_rot, rotate_grid(y, rotation, FIELDS), rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_rate_and_scaling_are_right_statistically(rate):
    fields = FieldType("50x0 + 50x1")
    layer = FieldDropout(fields, rate, seed=7)
    x = np.ones((200, 1, 1, 1, fields.dim), "float32")
    y = to_numpy(layer(x, training=True))
    dropped = np.mean(y[:, 0, 0, 0, [p.start for p in fields.slices()]] == 0)
    # 20000 draws: standard error < 0.004.
    assert abs(dropped - rate) < 0.02
    assert abs(y.mean() - 1.0) < 0.05
    np.testing.assert_allclose(np.unique(y[y > 0]), 1 / (1 - rate), rtol=1e-6)


def test_fresh_masks_per_call():
    layer = FieldDropout("20x0", 0.5, seed=2)
    x = np.ones((4, 1, 1, 1, 20), "float32")
    assert not np.array_equal(layer(x, training=True), layer(x, training=True))


def test_in_a_model_fit_and_save(tmp_path):
    inputs = keras.Input((3, 3, 3, 4))
    outputs = FieldDropout("1x0 + 1x1", 0.3, seed=4)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(outputs))
    model.compile("sgd", "mse")
    x = _random_input("1x0 + 1x1", size=3, batch=8)
    model.fit(x, np.zeros((8, 3, 3, 3, 1)), epochs=1, verbose=0)
    path = tmp_path / "drop.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(to_numpy(reloaded(x)), to_numpy(model(x)))
    assert reloaded.layers[1].get_config()["rate"] == 0.3


def test_mixed_precision():
    layer = FieldDropout(FIELDS, 0.5, seed=0, dtype="mixed_bfloat16")
    y = layer(_random_input(FIELDS, size=3), training=True)
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"


def test_bad_arguments_and_wrong_type():
    with pytest.raises(ValueError, match="rate"):
        FieldDropout("1x0", 1.0)
    with pytest.raises(ValueError, match=r"'1x0 \+ 1x1' \(4 channels\)"):
        FieldDropout("1x0 + 1x1", 0.5)(np.zeros((1, 3, 3, 3, 3), "float32"))


def test_o3_equivariant_for_a_shared_mask_under_the_48_cube_symmetries():
    fields = "2x0e + 1x0o + 1x1o + 1x1e + 1x2o"
    x = _random_input(fields, size=5, batch=4)
    y = to_numpy(FieldDropout(fields, 0.4, seed=3)(x, training=True))
    for g in so3.cube_symmetries()[::3]:
        layer = FieldDropout(fields, 0.4, seed=3)
        y_g = to_numpy(layer(rotate_grid(x, g, fields), training=True))
        np.testing.assert_allclose(y_g, rotate_grid(y, g, fields), rtol=1e-5, atol=1e-6)
