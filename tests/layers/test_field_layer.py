import keras
import numpy as np
import pytest

from keras_se3 import FieldType
from keras_se3.layers import (
    Gate,
    InvariantPooling,
    NormActivation,
)
from keras_se3.layers.field_layer import FieldLayer, field_norms, scalar_bias
from tests.backend import gradients, to_numpy

EPS = FieldLayer.NORM_EPSILON


def test_one_epsilon_for_every_field_norm():
    assert EPS == 1e-6
    assert NormActivation("1x1").epsilon == InvariantPooling("1x1").epsilon == EPS
    # At v = 0 every norm is sqrt(epsilon), in the pooling and the activation.
    zeros = np.zeros((1, 3, 3, 3, 8), "float32")
    pooled = to_numpy(InvariantPooling("1x1 + 1x2")(zeros))
    np.testing.assert_allclose(pooled, np.sqrt(EPS), rtol=1e-6)
    norms = to_numpy(field_norms(zeros, FieldType("1x1 + 1x2"), [0, 1], EPS))
    np.testing.assert_allclose(norms, np.sqrt(EPS), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
def test_gradients_at_zero_are_finite_and_bounded(dtype):
    """The gain of v / |v| at v = 0 is (b + sqrt(eps)) / sqrt(eps), ~1e3 for b = 1."""
    layer = NormActivation("1x1", activation=None, bias_initializer="ones", dtype=dtype)
    pool = InvariantPooling("1x1", dtype=dtype)
    x = np.zeros((1, 2, 2, 2, 3), "float32")
    (grad,), _ = gradients(
        lambda x: keras.ops.sum(keras.ops.cast(layer(x), "float32")), [x]
    )
    expected = (1.0 + np.sqrt(EPS)) / np.sqrt(EPS)
    rtol = 1e-5 if dtype == "float32" else 1e-2
    np.testing.assert_allclose(grad, expected, rtol=rtol)
    (pool_grad,), _ = gradients(
        lambda x: keras.ops.sum(keras.ops.cast(pool(x), "float32")), [x]
    )
    assert np.all(np.isfinite(pool_grad)) and np.all(pool_grad == 0)


def test_scalar_bias_touches_only_scalar_channels():
    fields = FieldType("1x1 + 2x0 + 1x2 + 1x0")
    bias = to_numpy(scalar_bias(np.array([1.0, 2.0, 3.0], "float32"), fields))
    expected = np.zeros(fields.dim)
    expected[[3, 4, 10]] = [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(bias, expected)


def test_channel_check_names_type_channels_and_fix():
    layer = NormActivation("1x0 + 1x1", name="act")
    with pytest.raises(
        ValueError,
        match=r"Layer 'act' \(NormActivation\) expects fields='1x0 \+ 1x1' "
        r"\(4 channels\), but the input has 3 channels\. Pass",
    ):
        layer(np.zeros((1, 3, 3, 3, 3), "float32"))


def test_unbuilt_layer_cannot_export():
    with pytest.raises(ValueError, match="not built.*call it on data"):
        Gate("1x0").to_stock_keras()


def test_saved_configs_keep_their_epsilon(tmp_path):
    """A model saved with the old InvariantPooling default (1e-12) keeps it."""
    inputs = keras.Input((3, 3, 3, 3))
    model = keras.Model(inputs, InvariantPooling("1x1", epsilon=1e-12)(inputs))
    model.save(tmp_path / "pool.keras")
    loaded = keras.saving.load_model(tmp_path / "pool.keras")
    assert loaded.layers[-1].epsilon == 1e-12
    zeros = np.zeros((1, 3, 3, 3, 3), "float32")
    np.testing.assert_allclose(to_numpy(loaded(zeros)), 1e-6, rtol=1e-6)


class _SO3Only(FieldLayer):
    """A field layer written for SO(3) fields (TAKES_O3 is False by default)."""


def test_a_field_layer_that_does_not_take_o3_types_says_so():
    # FieldType parses O(3) types and the package's layers take them; a layer
    # that would treat their fields as SO(3) fields (a user's FieldLayer that did
    # not opt in with TAKES_O3) must say so, not compute something else.
    with pytest.raises(ValueError, match="_SO3Only does not take O\\(3\\) field"):
        _SO3Only("2x0e + 1x1o")
    assert _SO3Only("2x0 + 1x1").fields == "2x0 + 1x1"
