import keras
import numpy as np
import pytest

from keras_se3 import FieldType, so3
from keras_se3.layers import Gate
from keras_se3.transforms import rotate_grid
from tests.backend import gradients, to_numpy

TYPES = ["2x0 + 1x1 + 1x2 + 1x0 + 1x3", "1x1 + 2x0", "2x2", "3x0"]


def _relative(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def _random_input(field_type, size=7, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    dim = FieldType(field_type).dim
    return rng.normal(size=(batch, size, size, size, dim)).astype("float32")


def test_input_fields():
    assert Gate.input_fields("4x0 + 2x1 + 1x2") == "4x0 + 2x1 + 1x2 + 3x0"
    assert Gate.input_fields("3x0") == "3x0"
    assert Gate.input_fields([(1, 1), (2, 0)]) == "1x1 + 2x0 + 1x0"
    assert Gate("1x2 + 1x0").input_fields == "1x2 + 1x0 + 1x0"


@pytest.mark.parametrize("fields", TYPES)
def test_exact_equivariance_under_cube_rotations(fields):
    layer = Gate(fields, bias_initializer="random_normal")
    in_type = Gate.input_fields(fields)
    x = _random_input(in_type)
    y = to_numpy(layer(x))
    assert y.shape == (2, 7, 7, 7, FieldType(fields).dim)
    for rotation in so3.cube_rotations():
        y_rot = to_numpy(layer(rotate_grid(x, rotation, in_type)))
        assert _relative(y_rot, rotate_grid(y, rotation, fields)) <= 1e-5


def test_matches_the_definition():
    fields = FieldType("1x1 + 1x0 + 1x2")
    layer = Gate(fields, activation="tanh", bias_initializer="random_normal")
    x = _random_input(Gate.input_fields(fields), size=3)
    y = to_numpy(layer(x))
    b, bg = to_numpy(layer.bias), to_numpy(layer.gate_bias)
    assert b.shape == (1,) and bg.shape == (2,)

    def sigmoid(t):
        return 1 / (1 + np.exp(-t))

    np.testing.assert_allclose(
        y[..., 0:3], x[..., 0:3] * sigmoid(x[..., 9:10] + bg[0]), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        y[..., 3], np.tanh(x[..., 3] + b[0]), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        y[..., 4:9], x[..., 4:9] * sigmoid(x[..., 10:11] + bg[1]), rtol=1e-5, atol=1e-6
    )


def test_parameter_count_and_no_bias():
    layer = Gate("4x0 + 2x1 + 3x2")
    layer.build((None, 5, 5, 5, Gate.input_fields("4x0 + 2x1 + 3x2").dim))
    assert layer.count_params() == 4 + 5
    layer = Gate("4x0 + 2x1", use_bias=False)
    layer.build((None, 5, 5, 5, 12))
    assert layer.count_params() == 0


def test_gradients_reach_every_weight():
    layer = Gate("2x0 + 1x1 + 1x2")
    x = _random_input(layer.input_fields, size=3)
    _, grads = gradients(
        lambda: keras.ops.sum(layer(x) ** 2), variables=lambda: layer.trainable_weights
    )
    assert len(grads) == 2
    assert all(g is not None and np.any(to_numpy(g) != 0) for g in grads)


def test_save_and_reload(tmp_path):
    fields = "2x0 + 1x1 + 1x2"
    inputs = keras.Input((5, 5, 5, Gate.input_fields(fields).dim))
    outputs = Gate(fields, activation="softplus", bias_initializer="random_normal")(
        inputs
    )
    model = keras.Model(inputs, outputs)
    path = tmp_path / "gate.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    x = _random_input(Gate.input_fields(fields), size=5)
    np.testing.assert_array_equal(to_numpy(reloaded(x)), to_numpy(model(x)))
    assert reloaded.layers[1].get_config()["fields"] == fields


def test_mixed_precision():
    layer = Gate("2x0 + 1x1", dtype="mixed_bfloat16")
    y = layer(_random_input(layer.input_fields, size=3))
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    assert all(w.dtype == "float32" for w in layer.weights)


def test_missing_gates_raise_naming_the_expected_type():
    layer = Gate("4x0 + 2x1")
    with pytest.raises(ValueError, match=r"'4x0 \+ 2x1 \+ 2x0' \(12 channels"):
        layer(np.zeros((1, 3, 3, 3, 10), "float32"))


O3_TYPES = ["2x0e + 1x0o + 1x1o + 1x1e + 1x2o", "1x0o + 1x1e", "2x0e"]


@pytest.mark.parametrize("fields", O3_TYPES)
def test_o3_exact_equivariance_under_the_48_cube_symmetries(fields):
    layer = Gate(fields, bias_initializer="random_normal")
    in_type = Gate.input_fields(fields)
    x = _random_input(in_type)
    y = to_numpy(layer(x))
    for g in so3.cube_symmetries():
        y_g = to_numpy(layer(rotate_grid(x, g, in_type)))
        assert _relative(y_g, rotate_grid(y, g, fields)) <= 1e-5


def test_o3_gates_are_even_and_pseudo_scalars_odd_without_bias():
    assert Gate.input_fields("1x0o + 2x1o + 1x1e") == "1x0o + 2x1o + 1x1e + 3x0e"
    layer = Gate("1x0e + 1x0o", bias_initializer="ones")
    x = np.array([[0.5, -2.0]], "float32")
    y = to_numpy(layer(x))
    # Even scalar: relu(x + 1); pseudo-scalar: tanh(x), no bias.
    np.testing.assert_allclose(y, [[1.5, np.tanh(-2.0)]], rtol=1e-6)
    assert layer.bias.shape == (1,)
    # An even activation on pseudo-scalars would break equivariance: refused.
    with pytest.raises(ValueError, match="must be an odd function"):
        Gate("1x0o", odd_activation="relu")
    Gate("1x0e + 1x1o", odd_activation="relu")  # no pseudo-scalars: not used
    clone = Gate.from_config(Gate("1x0o", odd_activation="softsign").get_config())
    assert clone.fields == "1x0o" and clone.odd_activation.__name__ == "softsign"
