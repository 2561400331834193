import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_se3
from keras_se3 import so3
from keras_se3.export.exporters import relative_error
from keras_se3.layers import (
    FieldBatchNormalization,
    FieldDropout,
    Gate,
    InvariantPooling,
    LowPassDownsampling3D,
    NormActivation,
    SE3Conv3D,
    SE3Conv3DTranspose,
    SE3GatedConv3D,
    SE3ResidualBlock,
)
from keras_se3.models import cath_resnet, shrec17_net, tetris_net
from keras_se3.transforms import rotate_grid
from tests.backend import to_numpy
from tests.layer_checks import (
    assert_stock_only,
    randomize_weights,
    update_bn_statistics,
)

TOL = 1e-5


def _parity(model, collapsed, x):
    reference = to_numpy(model(x, training=False))
    value = to_numpy(collapsed(x, training=False))
    assert value.shape == reference.shape
    return relative_error([reference], [value])


def _float64_outputs(build, model, x):
    """``model``'s inference outputs computed in float64 (same weights)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        exact = build()
        exact.build(x.shape)
        exact.set_weights([to_numpy(w, "float64") for w in model.get_weights()])
        return to_numpy(exact(x.astype("float64"), training=False))
    finally:
        keras.config.set_dtype_policy(previous)


def test_tetris_net_after_training_steps(rng):
    keras.utils.set_random_seed(0)
    model = tetris_net()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = rng.normal(size=(4, 9, 9, 9, 1)).astype("float32")
    model.fit(x, np.arange(4), batch_size=2, epochs=1, verbose=0)
    collapsed = keras_se3.collapse(model)
    assert_stock_only(collapsed)
    assert _parity(model, collapsed, x) <= TOL
    # Still invariant under the 24 cube rotations (batch of rotated copies).
    batch = np.concatenate([rotate_grid(x[:1], r) for r in so3.cube_rotations()])
    logits = to_numpy(collapsed(batch.astype("float32")))
    assert np.abs(logits - logits[:1]).max() <= 1e-4 * np.abs(logits).max()


@pytest.mark.parametrize(
    "build, size",
    [
        (cath_resnet, 16),
        (lambda: shrec17_net(num_classes=7), 17),
        (lambda: tetris_net(input_blur=0.87, lowpass_sigma=1.2, batch_norm=True), 9),
    ],
    ids=["cath", "shrec17", "tetris-recipe"],
)
def test_paper_nets_with_batch_norm_statistics(build, size, rng, float64):
    keras.utils.set_random_seed(1)
    model = build()
    randomize_weights(model, rng)
    update_bn_statistics(model, (2, size, size, size, 1), rng)
    before = [np.array(w) for w in model.weights]
    collapsed = keras_se3.collapse(model)
    assert_stock_only(collapsed)
    assert not any(
        isinstance(layer, keras.layers.BatchNormalization) for layer in collapsed.layers
    ), "every field batch norm of these nets folds into a convolution"
    x = rng.normal(size=(2, size, size, size, 1)).astype("float32")
    # Logits reach ~1e4 here (random BN statistics), where the original's own
    # float32 rounding is ~1e-5: both are compared with the exact (float64)
    # original, and the collapsed net must be as exact as the original.
    exact = _float64_outputs(build, model, x)
    collapsed_error = relative_error([exact], [to_numpy(collapsed(x))])
    original_error = relative_error([exact], [to_numpy(model(x, training=False))])
    assert collapsed_error <= TOL and collapsed_error <= 2 * original_error + 1e-6
    # The original model is untouched.
    for w, old in zip(model.weights, before):
        np.testing.assert_array_equal(to_numpy(w), old)


def _stack(rng):
    """A Sequential model with one of every layer type (vector outputs)."""
    f_in = "1x0 + 1x1"
    f1 = "3x0 + 2x1 + 1x2"
    model = keras.Sequential(
        [
            keras.Input((9, 9, 9, 4)),
            SE3Conv3D(Gate.input_fields(f1), 3, in_fields=f_in, name="c1"),
            FieldBatchNormalization(Gate.input_fields(f1), name="bn1"),
            Gate(f1, activation="softplus", name="g1"),
            FieldDropout(f1, 0.3, name="fd"),
            NormActivation(f1, activation="relu", name="na"),
            SE3Conv3D(f1, 3, in_fields=f1, padding=1, strides=1, name="c2"),
            LowPassDownsampling3D(2, name="lp"),  # 9 -> 5
            SE3GatedConv3D(
                "2x0 + 2x1", 3, in_fields=f1, batch_norm=True, dropout=0.1, name="gc"
            ),
            SE3ResidualBlock(
                "2x0 + 2x1", 3, in_fields="2x0 + 2x1", batch_norm=True, name="res"
            ),
            SE3Conv3DTranspose(
                "1x0 + 1x1", 3, in_fields="2x0 + 2x1", strides=2, name="up"
            ),  # 5 -> 9
            FieldBatchNormalization("1x0 + 1x1", name="bn2"),
        ]
    )
    randomize_weights(model, rng)
    update_bn_statistics(model, (2, 9, 9, 9, 4), rng)
    return model


def test_stack_of_every_layer_and_equivariance(rng):
    keras.utils.set_random_seed(2)
    model = _stack(rng)
    collapsed = keras_se3.collapse(model)
    assert_stock_only(collapsed)
    x = rng.normal(size=(2, 9, 9, 9, 4)).astype("float32")
    assert _parity(model, collapsed, x) <= TOL
    # Exactly equivariant (vector fields rotate with the grid).
    out_fields = keras_se3.FieldType("1x0 + 1x1")
    y = to_numpy(collapsed(x))
    for r in so3.cube_rotations():
        rotated = to_numpy(collapsed(rotate_grid(x, r, "1x0 + 1x1")))
        expected = rotate_grid(y, r, out_fields)
        assert np.abs(rotated - expected).max() <= 1e-5 * np.abs(y).max()


@pytest.mark.parametrize("mode", ["mean", "max"])
def test_heads_downsampling_variants_and_invariant_pooling(mode, rng):
    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, 8, 4), name="x")
    x = SE3GatedConv3D(
        "2x0 + 1x1 + 1x2", 3, in_fields="1x0 + 1x1", strides=2, downsampling="average"
    )(inputs)
    x = SE3GatedConv3D(
        "2x1 + 1x0", 3, in_fields="2x0 + 1x1 + 1x2", strides=2, downsampling="strided"
    )(x)
    x = LowPassDownsampling3D(2, method="average")(x)
    x = LowPassDownsampling3D(1, sigma=0.7)(x)  # a plain blur
    outputs = InvariantPooling("2x1 + 1x0", mode=mode, epsilon=1e-6)(x)
    model = keras.Model(inputs, outputs)
    randomize_weights(model, rng)
    collapsed = keras_se3.collapse(model)
    assert _parity(model, collapsed, rng.normal(size=(3, 8, 8, 8, 4))) <= TOL


@pytest.mark.parametrize("factor, sigma", [(2, 0.1), (1, 0.1), (3, 1.5)])
def test_low_pass_with_narrow_or_wide_sigma(factor, sigma, rng):
    # sigma 0.1 is a 1-tap filter: factor 2 must still subsample, factor 1 is
    # the identity.
    inputs = keras.Input((10, 10, 10, 2))
    model = keras.Model(inputs, LowPassDownsampling3D(factor, sigma=sigma)(inputs))
    collapsed = keras_se3.collapse(model)
    assert_stock_only(collapsed)
    x = rng.normal(size=(2, 10, 10, 10, 2))
    assert collapsed(x).shape == model(x).shape
    assert _parity(model, collapsed, x) <= TOL


def test_functional_residual_nested_and_shared_outputs(rng):
    keras.utils.set_random_seed(4)
    fields = "2x0 + 1x1"
    inner_in = keras.Input((None, None, None, 5))
    h = SE3Conv3D(fields, 3, in_fields=fields)(inner_in)
    h = FieldBatchNormalization(fields)(h)  # folds
    inner = keras.Model(inner_in, NormActivation(fields)(h), name="inner")
    seq = keras.Sequential(
        [keras.Input((None, None, None, 5)), Gate("1x0 + 1x1", name="gate")],
        name="seq",
    )

    inputs = keras.Input((None, None, None, 5), name="voxels")
    a = SE3Conv3D(fields, 3, in_fields=fields, name="a")(inputs)
    # `a` feeds a batch norm and an Add: the batch norm must not fold into it.
    b = FieldBatchNormalization(fields, name="bn")(a)
    c = inner(b)
    d = keras.layers.Add(name="add")([a, c])
    e = keras.layers.Multiply()([d, inner(inputs)])  # the nested model, twice
    g = seq(e)
    pooled = InvariantPooling("1x0 + 1x1", name="pool")(g)
    logits = keras.layers.Dense(3, name="logits")(pooled)
    model = keras.Model(inputs, [logits, g], name="mixed")
    randomize_weights(model, rng)
    update_bn_statistics(model, (2, 7, 7, 7, 5), rng)
    collapsed = keras_se3.collapse(model)
    assert_stock_only(collapsed)
    assert collapsed.input_shape == model.input_shape
    x = rng.normal(size=(2, 7, 7, 7, 5)).astype("float32")
    reference = [to_numpy(o) for o in model(x, training=False)]
    values = [to_numpy(o) for o in collapsed(x)]
    assert relative_error(reference, values) <= TOL
    assert [layer.name for layer in collapsed.layers].count("bn") == 1  # not folded


def test_saved_collapsed_model_loads_without_keras_se3(tmp_path, rng):
    keras.utils.set_random_seed(5)
    model = _stack(rng)
    collapsed = keras_se3.collapse(model)
    path = tmp_path / "collapsed.keras"
    collapsed.save(path)
    x = rng.normal(size=(2, 9, 9, 9, 4)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", to_numpy(model(x, training=False)))
    script = (
        "import sys; sys.modules['keras_se3'] = None\n"
        "import numpy as np, keras\n"
        f"m = keras.saving.load_model({str(path)!r}, safe_mode=True)\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
        f"y = np.load({str(tmp_path / 'y.npy')!r})\n"
        "e = np.abs(keras.ops.convert_to_numpy(m(x)) - y).max() / np.abs(y).max()\n"
        "assert e <= 1e-5, e\n"
        "print('ok', e)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ok" in result.stdout


class _Custom(keras.layers.Layer):
    def call(self, x):
        return x * 2.0


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = SE3Conv3D("1x0", 3)

    def call(self, x):
        return self.conv(x)


def test_unsupported_models_and_layers_raise():
    inputs = keras.Input((5, 5, 5, 1))
    model = keras.Model(inputs, _Custom(name="doubler")(inputs))
    with pytest.raises(ValueError, match="doubler.*Supported"):
        keras_se3.collapse(model)
    sub = _Subclassed()
    sub(np.zeros((1, 5, 5, 5, 1), "float32"))
    with pytest.raises(ValueError, match="subclassed model.*functional API"):
        keras_se3.collapse(sub)
    with pytest.raises(ValueError, match="keras.Model"):
        keras_se3.collapse(SE3Conv3D("1x0", 3))


def test_lambda_layer_gets_a_clear_error():
    inputs = keras.Input((5, 5, 5, 1))
    x = SE3Conv3D("1x0", 3, name="conv")(inputs)
    model = keras.Model(
        inputs, keras.layers.Lambda(lambda t: t * 2.0, name="double")(x)
    )
    with pytest.raises(
        ValueError,
        match=r"layer 'double' of type Lambda cannot be collapsed; a Lambda holds "
        r"Python code.*keras\.ops calls",
    ):
        keras_se3.collapse(model)


class _Twice(keras.layers.Layer):
    """A custom layer that exports itself: collapse needs nothing else."""

    def call(self, x):
        return x * 2.0

    def to_stock_keras(self, input_shape=None, name=None):
        inputs = keras.Input(input_shape)
        scaled = keras.layers.Rescaling(2.0, name=name or self.name)(inputs)
        return keras.Model(inputs, scaled)


class _Unexported(keras_se3.layers.field_layer.FieldLayer):
    def call(self, x):
        return x


def test_a_custom_layer_with_to_stock_keras_is_collapsed(rng):
    inputs = keras.Input((5, 5, 5, 2))
    x = SE3Conv3D("1x0 + 1x1", 3, in_fields="2x0", name="conv")(inputs)
    model = keras.Model(inputs, _Twice(name="twice")(x))
    collapsed = keras_se3.collapse(model)
    assert_stock_only(collapsed)
    assert "twice" in [layer.name for layer in collapsed.layers]
    assert _parity(model, collapsed, rng.normal(size=(2, 5, 5, 5, 2))) <= TOL
    # A field layer that does not implement it gets told to.
    model = keras.Model(inputs, _Unexported("2x0", name="plain")(inputs))
    with pytest.raises(ValueError, match="'plain'.*to_stock_keras.*not implemented"):
        keras_se3.collapse(model)
