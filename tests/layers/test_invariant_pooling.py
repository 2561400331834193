import keras
import numpy as np
import pytest

from keras_se3 import FieldType, so3
from keras_se3.layers import InvariantPooling
from keras_se3.transforms import rotate_grid
from tests.backend import gradients, to_numpy

FIELDS = "2x0 + 1x1 + 1x2 + 1x0 + 1x3"


def _relative(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def _random_input(field_type, size=7, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    dim = FieldType(field_type).dim
    return rng.normal(size=(batch, size, size, size, dim)).astype("float32")


@pytest.mark.parametrize("mode", ["mean", "max"])
def test_exact_invariance_under_cube_rotations(mode):
    layer = InvariantPooling(FIELDS, mode)
    x = _random_input(FIELDS)
    y = to_numpy(layer(x))
    assert y.shape == (2, FieldType(FIELDS).num_fields)
    for rotation in so3.cube_rotations():
        y_rot = to_numpy(layer(rotate_grid(x, rotation, FIELDS)))
        assert _relative(y_rot, y) <= 1e-5


@pytest.mark.parametrize("mode", ["mean", "max"])
def test_matches_the_definition(mode):
    fields = FieldType("1x1 + 1x0 + 1x2")
    x = _random_input(fields, size=3)
    y = to_numpy(InvariantPooling(fields, mode)(x))
    reduce = np.mean if mode == "mean" else np.max
    expected = np.stack(
        [
            reduce(np.linalg.norm(x[..., 0:3], axis=-1), axis=(1, 2, 3)),
            reduce(x[..., 3], axis=(1, 2, 3)),
            reduce(np.linalg.norm(x[..., 4:9], axis=-1), axis=(1, 2, 3)),
        ],
        axis=-1,
    )
    np.testing.assert_allclose(y, expected, rtol=1e-5)


def test_safe_gradient_at_zero():
    layer = InvariantPooling("1x1")
    x = np.zeros((1, 3, 3, 3, 3), "float32")
    (grad,), _ = gradients(lambda x: keras.ops.sum(layer(x)), [x])
    assert np.all(np.isfinite(grad))


def test_head_fit_and_save(tmp_path):
    inputs = keras.Input((5, 5, 5, FieldType(FIELDS).dim))
    outputs = keras.layers.Dense(2)(InvariantPooling(FIELDS)(inputs))
    model = keras.Model(inputs, outputs)
    model.compile("sgd", "mse")
    x = _random_input(FIELDS, size=5, batch=4)
    model.fit(x, np.zeros((4, 2)), epochs=1, verbose=0)
    path = tmp_path / "pool.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(to_numpy(reloaded(x)), to_numpy(model(x)))


def test_mixed_precision():
    layer = InvariantPooling(FIELDS, dtype="mixed_bfloat16")
    y = layer(_random_input(FIELDS, size=3))
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"


def test_wrong_type_and_mode_raise():
    with pytest.raises(ValueError, match=r"'1x0 \+ 1x1' \(4 channels\)"):
        InvariantPooling("1x0 + 1x1")(np.zeros((1, 3, 3, 3, 5), "float32"))
    with pytest.raises(ValueError, match="mode"):
        InvariantPooling("1x0", mode="sum")


O3_FIELDS = "2x0e + 1x0o + 1x1o + 1x1e + 1x2o"


def test_o3_invariant_except_pseudo_scalars_which_flip():
    layer = InvariantPooling(O3_FIELDS)
    assert layer.output_fields == "2x0e + 1x0o + 3x0e"
    assert InvariantPooling("2x0 + 1x1").output_fields == "3x0"
    x = _random_input(O3_FIELDS)
    y = to_numpy(layer(x))
    for g in so3.cube_symmetries():
        y_g = to_numpy(layer(rotate_grid(x, g, O3_FIELDS)))
        # The output's own type acts: +1 on invariants, det(g) on the pseudo-scalar.
        expected = y @ layer.output_fields.representation(g).T
        assert _relative(y_g, expected) <= 1e-5
    # Max pooling of a field that changes sign is not equivariant: refused.
    with pytest.raises(ValueError, match="cannot pool the pseudo-scalars"):
        InvariantPooling(O3_FIELDS, mode="max")
    InvariantPooling("1x0e + 1x1e", mode="max")  # no pseudo-scalar: fine
