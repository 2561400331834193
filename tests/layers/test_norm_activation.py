import keras
import numpy as np
import pytest

from keras_se3 import FieldType, so3
from keras_se3.layers import NormActivation
from keras_se3.transforms import rotate_grid
from tests.backend import gradients, to_numpy

FIELDS = "2x0 + 1x1 + 1x2 + 1x0 + 1x3"


def _relative(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def _random_input(field_type, size=7, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    dim = FieldType(field_type).dim
    return rng.normal(size=(batch, size, size, size, dim)).astype("float32")


@pytest.mark.parametrize("activation", ["relu", "softplus", "sigmoid"])
def test_exact_equivariance_under_cube_rotations(activation):
    layer = NormActivation(FIELDS, activation, bias_initializer="random_normal")
    x = _random_input(FIELDS)
    y = to_numpy(layer(x))
    for rotation in so3.cube_rotations():
        y_rot = to_numpy(layer(rotate_grid(x, rotation, FIELDS)))
        assert _relative(y_rot, rotate_grid(y, rotation, FIELDS)) <= 1e-5


def test_matches_the_definition():
    layer = NormActivation("1x1 + 1x0", "softplus", bias_initializer="random_normal")
    x = _random_input("1x1 + 1x0", size=3)
    y = to_numpy(layer(x))
    b = to_numpy(layer.bias)
    norm = np.sqrt(np.sum(x[..., :3] ** 2, axis=-1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(
        y[..., :3], np.log1p(np.exp(norm + b[0])) * x[..., :3] / norm, rtol=1e-5
    )
    np.testing.assert_allclose(y[..., 3], np.log1p(np.exp(x[..., 3] + b[1])), rtol=1e-5)


def test_safe_at_zero():
    layer = NormActivation("1x1 + 1x2", "relu", bias_initializer="ones")
    x = np.zeros((1, 3, 3, 3, 8), "float32")
    y = to_numpy(layer(x))
    assert np.all(np.isfinite(y)) and np.all(y == 0)
    grads_x, grads_w = gradients(
        lambda x: keras.ops.sum(layer(x)), [x], layer.trainable_weights
    )
    assert all(np.all(np.isfinite(g)) for g in grads_x + grads_w)


def test_gradients_reach_every_weight():
    layer = NormActivation(FIELDS, "softplus")
    x = _random_input(FIELDS, size=3)
    _, (grad,) = gradients(
        lambda: keras.ops.sum(layer(x) ** 2), variables=lambda: layer.trainable_weights
    )
    assert grad.shape == (FieldType(FIELDS).num_fields,)
    assert np.all(to_numpy(grad) != 0)


def test_save_and_reload(tmp_path):
    inputs = keras.Input((5, 5, 5, FieldType(FIELDS).dim))
    model = keras.Model(
        inputs, NormActivation(FIELDS, bias_initializer="random_normal")(inputs)
    )
    path = tmp_path / "norm.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    x = _random_input(FIELDS, size=5)
    np.testing.assert_array_equal(to_numpy(reloaded(x)), to_numpy(model(x)))


def test_mixed_precision():
    layer = NormActivation(FIELDS, dtype="mixed_bfloat16")
    y = layer(_random_input(FIELDS, size=3))
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    assert all(w.dtype == "float32" for w in layer.weights)


def test_wrong_type_raises():
    with pytest.raises(ValueError, match=r"'1x0 \+ 1x1' \(4 channels\)"):
        NormActivation("1x0 + 1x1")(np.zeros((1, 3, 3, 3, 3), "float32"))


O3_FIELDS = "2x0e + 1x0o + 1x1o + 1x1e + 1x2o"


@pytest.mark.parametrize("activation", ["relu", "softplus"])
def test_o3_exact_equivariance_under_the_48_cube_symmetries(activation):
    layer = NormActivation(O3_FIELDS, activation, bias_initializer="random_normal")
    x = _random_input(O3_FIELDS)
    y = to_numpy(layer(x))
    for g in so3.cube_symmetries():
        y_g = to_numpy(layer(rotate_grid(x, g, O3_FIELDS)))
        assert _relative(y_g, rotate_grid(y, g, O3_FIELDS)) <= 1e-5


def test_o3_pseudo_scalars_keep_their_sign():
    layer = NormActivation("1x0e + 1x0o", "softplus", bias_initializer="ones")
    x = np.array([[-0.5, -2.0]], "float32")
    y = to_numpy(layer(x))
    norm = np.sqrt(4.0 + 1e-6)
    # Even scalar: softplus(s + b); pseudo-scalar: softplus(|s| + b) * sign(s).
    np.testing.assert_allclose(y[0, 0], np.log1p(np.exp(0.5)), rtol=1e-6)
    np.testing.assert_allclose(
        y[0, 1], -np.log1p(np.exp(norm + 1.0)) * 2.0 / norm, rtol=1e-6
    )
