import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_se3 import FieldType, so3
from keras_se3.layers import FieldBatchNormalization
from keras_se3.transforms import rotate_grid
from tests.backend import gradients, to_numpy

FIELDS = "2x0 + 1x1 + 1x2 + 1x0 + 1x3"


def _relative(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def _random_input(field_type, size=7, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    dim = FieldType(field_type).dim
    x = rng.normal(size=(batch, size, size, size, dim)).astype("float32")
    # Non-trivial statistics: shifted, scaled channels.
    return (x * rng.uniform(0.5, 3.0, dim) + rng.normal(size=dim)).astype("float32")


def _trained_layer(fields, **kwargs):
    layer = FieldBatchNormalization(fields, momentum=0.5, **kwargs)
    for seed in range(3):
        layer(_random_input(fields, seed=10 + seed), training=True)
    return layer


@pytest.mark.parametrize("training", [False, True])
def test_exact_equivariance_under_cube_rotations(training):
    layer = _trained_layer(FIELDS, gamma_initializer="random_uniform")
    if layer.beta is not None:
        layer.beta.assign(np.random.default_rng(5).normal(size=layer.beta.shape))
    x = _random_input(FIELDS)
    y = to_numpy(layer(x, training=training))
    for rotation in so3.cube_rotations():
        y_rot = to_numpy(layer(rotate_grid(x, rotation, FIELDS), training=training))
        assert _relative(y_rot, rotate_grid(y, rotation, FIELDS)) <= 1e-5


def test_training_mode_normalises_like_the_definition():
    fields = FieldType("1x0 + 1x1 + 1x2")
    layer = FieldBatchNormalization(fields, epsilon=1e-3)
    x = _random_input(fields)
    y = to_numpy(layer(x, training=True))
    s = x[..., 0]
    np.testing.assert_allclose(
        y[..., 0], (s - s.mean()) / np.sqrt(s.var() + 1e-3), rtol=1e-4, atol=1e-5
    )
    for piece, l in zip(fields.slices()[1:], (1, 2)):
        v = x[..., piece]
        ms = np.mean(np.sum(v**2, axis=-1)) / (2 * l + 1)
        np.testing.assert_allclose(y[..., piece], v / np.sqrt(ms + 1e-3), rtol=1e-4)


def test_moving_statistics_update_in_training_only_and_are_used_at_inference():
    fields = FieldType("1x0 + 1x1")
    layer = FieldBatchNormalization(fields, momentum=0.9)
    x = _random_input(fields)
    layer(x, training=False)
    np.testing.assert_array_equal(to_numpy(layer.moving_mean), [0.0])
    np.testing.assert_array_equal(to_numpy(layer.moving_variance), [1.0, 1.0])
    layer(x, training=True)
    mean = x[..., 0].mean()
    var = x[..., 0].var()
    ms = np.mean(np.sum(x[..., 1:] ** 2, axis=-1)) / 3
    np.testing.assert_allclose(layer.moving_mean, [0.1 * mean], rtol=1e-4)
    np.testing.assert_allclose(
        layer.moving_variance, [0.9 + 0.1 * var, 0.9 + 0.1 * ms], rtol=1e-4
    )

    def moving():
        return [to_numpy(layer.moving_mean), to_numpy(layer.moving_variance)]

    before = moving()
    y = to_numpy(layer(x, training=False))
    assert all(np.array_equal(b, a) for b, a in zip(before, moving()))
    a, b = layer.inference_affine()
    np.testing.assert_allclose(y, x * a + b, rtol=1e-5, atol=1e-6)
    # A frozen layer uses the moving statistics even with training=True.
    layer.trainable = False
    np.testing.assert_allclose(to_numpy(layer(x, training=True)), y, rtol=1e-6)
    assert all(np.array_equal(b, a) for b, a in zip(before, moving()))


def test_fit_updates_moving_statistics():
    fields = "2x0 + 1x1"
    inputs = keras.Input((5, 5, 5, 5))
    model = keras.Model(inputs, FieldBatchNormalization(fields, momentum=0.5)(inputs))
    model.compile("sgd", "mse")
    x = _random_input(fields, size=5, batch=4)
    model.fit(x, np.zeros_like(x), epochs=2, verbose=0)
    assert not np.allclose(model.layers[1].moving_variance, 1.0)


def test_no_trainable_weights_without_center_and_scale():
    layer = FieldBatchNormalization(FIELDS, center=False, scale=False)
    layer.build((None, 5, 5, 5, FieldType(FIELDS).dim))
    assert layer.trainable_weights == []
    assert sorted(w.name for w in layer.non_trainable_weights) == [
        "moving_mean",
        "moving_variance",
    ]
    layer = FieldBatchNormalization(FIELDS)
    layer.build((None, 5, 5, 5, FieldType(FIELDS).dim))
    # gamma per field (6), beta per scalar field (3).
    assert layer.count_params() - 3 - 6 == 9


def test_only_nonscalar_fields():
    layer = _trained_layer("1x1 + 1x2")
    assert layer.moving_mean is None and layer.beta is None
    x = _random_input("1x1 + 1x2")
    a, b = layer.inference_affine()
    np.testing.assert_allclose(to_numpy(layer(x)), x * a + b, rtol=1e-5, atol=1e-6)


def test_gradients_reach_every_weight():
    layer = FieldBatchNormalization(FIELDS)
    x = _random_input(FIELDS, size=3)
    weights = np.random.default_rng(0).normal(size=x.shape[-1]).astype("float32")
    weights = keras.ops.convert_to_tensor(weights)  # numpy * torch tensor fails
    _, grads = gradients(
        lambda: keras.ops.sum(layer(x, training=True) ** 3 * weights),
        variables=lambda: layer.trainable_weights,
    )
    assert len(grads) == 2
    assert all(np.all(to_numpy(g) != 0) for g in grads)


def test_save_and_reload(tmp_path):
    inputs = keras.Input((5, 5, 5, FieldType(FIELDS).dim))
    layer = FieldBatchNormalization(FIELDS, center=False)
    model = keras.Model(inputs, layer(inputs))
    layer(_random_input(FIELDS, size=5), training=True)
    path = tmp_path / "bn.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    x = _random_input(FIELDS, size=5, seed=3)
    np.testing.assert_array_equal(to_numpy(reloaded(x)), to_numpy(model(x)))
    assert reloaded.layers[1].get_config()["center"] is False


def test_mixed_precision():
    layer = FieldBatchNormalization(FIELDS, dtype="mixed_bfloat16")
    x = _random_input(FIELDS, size=3)
    y = layer(x, training=True)
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    assert all(w.dtype == "float32" for w in layer.weights)
    assert np.all(np.isfinite(to_numpy(layer.moving_variance)))


def test_wrong_type_raises():
    with pytest.raises(ValueError, match=r"'2x0 \+ 1x1' \(5 channels\)"):
        FieldBatchNormalization("2x0 + 1x1")(np.zeros((1, 3, 3, 3, 4), "float32"))


_SYNC_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    from keras_se3.layers import FieldBatchNormalization

    fields = "2x0 + 1x1"
    x = np.random.default_rng(0).normal(size=(4, 3, 3, 3, 5)).astype("float32")
    x[:2] = 3 * x[:2] + 1  # the two replicas see different statistics
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    results = {}
    for sync in (True, False):
        with strategy.scope():
            layer = FieldBatchNormalization(fields, momentum=0.0, synchronized=sync)
            layer.build(x.shape)
        batch = next(iter(strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensor_slices(x).batch(4))))
        out = tf.function(
            lambda b: strategy.run(lambda t: layer(t, training=True), args=(b,))
        )(batch)
        parts = strategy.experimental_local_results(out)
        y = np.concatenate([t.numpy() for t in parts])
        results[sync] = (y, np.asarray(layer.moving_variance))
    reference = FieldBatchNormalization(fields, momentum=0.0)
    y_ref = np.asarray(reference(x, training=True))
    assert np.abs(results[True][0] - y_ref).max() < 1e-5
    np.testing.assert_allclose(results[True][1], reference.moving_variance, rtol=1e-5)
    assert np.abs(results[False][0] - y_ref).max() > 1e-2
    print("OK")
    """
)


@pytest.mark.tensorflow_only
def test_synchronized_statistics_under_mirrored_strategy():
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root), TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-c", _SYNC_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and "OK" in result.stdout, result.stderr[-3000:]


O3_FIELDS = "2x0e + 1x0o + 1x1o + 1x1e + 1x2o"


@pytest.mark.parametrize("training", [False, True])
def test_o3_exact_equivariance_under_the_48_cube_symmetries(training):
    layer = _trained_layer(O3_FIELDS, gamma_initializer="random_uniform")
    layer.beta.assign(np.random.default_rng(5).normal(size=layer.beta.shape))
    x = _random_input(O3_FIELDS)
    y = to_numpy(layer(x, training=training))
    for g in so3.cube_symmetries():
        y_g = to_numpy(layer(rotate_grid(x, g, O3_FIELDS), training=training))
        assert _relative(y_g, rotate_grid(y, g, O3_FIELDS)) <= 1e-5


def test_o3_pseudo_scalars_are_not_centred():
    layer = FieldBatchNormalization("1x0e + 1x0o", epsilon=1e-3)
    x = _random_input("1x0e + 1x0o")
    y = to_numpy(layer(x, training=True))
    assert layer.beta.shape == (1,) and layer.moving_mean.shape == (1,)
    s, p = x[..., 0], x[..., 1]
    np.testing.assert_allclose(
        y[..., 0], (s - s.mean()) / np.sqrt(s.var() + 1e-3), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(y[..., 1], p / np.sqrt(np.mean(p**2) + 1e-3), rtol=1e-4)
