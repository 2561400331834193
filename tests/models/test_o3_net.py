"""A small O(3) net of mixed field types, end to end: invariance under the 48
symmetries of the cube, a training step, ``.keras`` round trip, collapse and ONNX."""

import keras
import numpy as np
import pytest

import keras_se3
from keras_se3 import so3
from keras_se3.layers import (
    FieldBatchNormalization,
    FieldDropout,
    InvariantPooling,
    NormActivation,
    SE3Conv3D,
    SE3GatedConv3D,
    SE3ResidualBlock,
)
from keras_se3.transforms import rotate_grid
from tests.backend import to_numpy


def o3_net():
    """Scalars in; vectors and order-2, 3 fields inside; invariants out.

    From scalar input, convolutions reach only the fields of parity (-1)^l (0e,
    1o, 2e, 3o): a pseudo-scalar or pseudo-vector would need a pseudo input."""
    inputs = keras.Input((9, 9, 9, 1))
    hidden = "2x0e + 2x1o + 1x2e + 1x3o"
    x = SE3GatedConv3D("2x0e + 2x1o + 1x2e", 3, in_fields="1x0e")(inputs)
    x = SE3GatedConv3D(hidden, 3, in_fields="2x0e + 2x1o + 1x2e", batch_norm=True)(x)
    x = SE3ResidualBlock(hidden, 3, in_fields=hidden, strides=2, batch_norm=True)(x)
    x = FieldDropout(hidden, 0.2)(x)
    x = SE3Conv3D(hidden, 3, in_fields=hidden)(x)
    x = FieldBatchNormalization(hidden)(x)
    x = NormActivation(hidden, activation="softplus")(x)
    pool = InvariantPooling(hidden)
    x = pool(x)
    assert pool.output_fields == "6x0e"
    outputs = keras.layers.Dense(3, name="logits")(x)
    return keras.Model(inputs, outputs, name="o3_net")


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    model = o3_net()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 9, 9, 9, 1)).astype("float32")
    model.fit(x, np.arange(4) % 3, epochs=2, batch_size=4, verbose=0)
    return model, x


def test_o3_net_is_invariant_under_the_48_cube_symmetries(trained):
    model, x = trained
    y = to_numpy(model(x, training=False))
    errors = []
    for g in so3.cube_symmetries():
        y_g = to_numpy(model(rotate_grid(x, g), training=False))
        errors.append(np.abs(y_g - y).max() / np.abs(y).max())
    # Rotations and rotation-reflections alike (measured: ~1e-7).
    assert max(errors) <= 1e-4, max(errors)


def test_o3_net_gives_a_mirror_image_the_same_logits(trained):
    # An invariant O(3) net gives a piece and its mirror image the same logits.
    model, x = trained
    mirrored = x[:, ::-1]  # the reflection x -> -x along the first axis
    y, y_mirror = (to_numpy(model(v, training=False)) for v in (x, mirrored))
    np.testing.assert_allclose(y_mirror, y, rtol=1e-4, atol=1e-5)


@pytest.mark.tensorflow_only  # ONNX: tf2onnx converts TensorFlow graphs
def test_o3_net_saves_collapses_and_exports(trained, tmp_path):
    from keras_se3.export import to_onnx
    from keras_se3.export.exporters import relative_error

    model, x = trained
    y = to_numpy(model(x, training=False))
    model.save(tmp_path / "o3.keras")
    loaded = keras.saving.load_model(
        tmp_path / "o3.keras",
        safe_mode=False,  # the Lambda square
    )
    np.testing.assert_allclose(to_numpy(loaded(x, training=False)), y, rtol=1e-6)
    collapsed = keras_se3.collapse(model)
    assert relative_error([y], [to_numpy(collapsed(x))]) <= 1e-5
    error = to_onnx(model, tmp_path / "o3.onnx", check=True, check_inputs=[x])
    assert error <= 1e-5
