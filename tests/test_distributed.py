"""Training under ``tf.distribute.MirroredStrategy`` on 2 logical CPUs.

Logical devices must be configured before TensorFlow initialises, so the checks
run in one subprocess (one TensorFlow start-up, ~30 s) that prints its
measurements as JSON; the tests below assert on them.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

_SCRIPT = textwrap.dedent(
    """
    import json

    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras

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

    F = "2x0 + 1x1"
    SIZE = 9


    def build(dropout, synchronized=True):
        # Every keras_se3 layer type, on a 9^3 grid.
        inputs = keras.Input((SIZE, SIZE, SIZE, 1))
        x = SE3Conv3D(Gate.input_fields(F), 3, in_fields="1x0", name="conv")(inputs)
        x = Gate(F, name="gate")(x)
        x = FieldBatchNormalization(
            F, momentum=0.5, synchronized=synchronized, name="bn"
        )(x)
        x = FieldDropout(F, dropout, seed=1, name="drop")(x)
        x = SE3GatedConv3D(F, 3, in_fields=F, strides=2, name="gated")(x)  # 5^3
        x = SE3ResidualBlock(F, 3, in_fields=F, name="res")(x)
        x = LowPassDownsampling3D(2, name="down")(x)  # 3^3
        x = SE3Conv3DTranspose(F, 3, in_fields=F, strides=2, name="up")(x)  # 5^3
        x = NormActivation(F, name="norm_act")(x)
        x = InvariantPooling(F, name="pool")(x)
        outputs = keras.layers.Dense(2, name="dense")(x)
        model = keras.Model(inputs, outputs)
        # Plain SGD: the update is linear in the gradient. Keras' "mse" averages
        # over each replica's half and scales by 1 / num_replicas; the gradients
        # are summed over the replicas: the global-batch mean.
        model.compile(keras.optimizers.SGD(0.1), "mse")
        return model


    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, SIZE, SIZE, SIZE, 1)).astype("float32")
    x[:2] = 3 * x[:2] + 1  # the two replicas' halves have different statistics
    y = rng.normal(size=(4, 2)).astype("float32")
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2

    keras.utils.set_random_seed(1)
    single = build(dropout=0.0)
    initial = single.get_weights()
    with strategy.scope():
        # Built and compiled in the scope: mirrored variables.
        mirrored = build(dropout=0.0)
        mirrored.set_weights(initial)
        # Unsynchronized batch norm, and field dropout on.
        unsynced = build(dropout=0.5, synchronized=False)
        unsynced.set_weights(initial)
    losses = {}
    models = {"single": single, "mirrored": mirrored, "unsynced": unsynced}
    for key, model in models.items():
        # One step on the global batch of 4 (2 per replica), data in order.
        history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        losses[key] = history.history["loss"][0]


    def relative_diffs(weights, reference):
        # Max abs difference of each weight, relative to its scale (at least 1).
        return [
            float(np.abs(w - r).max() / max(1.0, np.abs(r).max()))
            for w, r in zip(weights, reference)
        ]


    def replicas_agree(model):
        # The copies of every mirrored variable on the two devices are equal.
        for v in model.weights:
            parts = strategy.experimental_local_results(v.value)
            parts = [np.asarray(p) for p in parts]
            if len(parts) != 2 or not all(np.array_equal(parts[0], p) for p in parts):
                return False
        return True


    trainable = [i for i, w in enumerate(single.weights) if w.trainable]


    def largest_update(model):
        weights = model.get_weights()
        before = [initial[i] for i in trainable]
        return max(relative_diffs([weights[i] for i in trainable], before))


    def moving_statistics(model):
        layer = model.get_layer("bn")
        return [np.asarray(layer.moving_mean).tolist(),
                np.asarray(layer.moving_variance).tolist()]


    # Inference (moving statistics) under the strategy, 2 samples per replica.
    predicted = mirrored.predict(x, batch_size=4, verbose=0)
    result = {
        "losses": losses,
        "update": largest_update(single),
        "weight_diff": max(
            relative_diffs(mirrored.get_weights(), single.get_weights())
        ),
        "unsynced_update": largest_update(unsynced),
        "unsynced_finite": all(np.all(np.isfinite(w)) for w in unsynced.get_weights()),
        "replicas_agree": {"mirrored": replicas_agree(mirrored),
                           "unsynced": replicas_agree(unsynced)},
        "predict_diff": float(np.abs(predicted - single.predict(x, verbose=0)).max()),
        "stats": {k: moving_statistics(m) for k, m in models.items()},
        "stats_initial": [[0.0, 0.0], [1.0, 1.0, 1.0]],
    }
    print("RESULT " + json.dumps(result))
    """
)


@pytest.fixture(scope="module")
def mirrored_run():
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root), TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])


def test_every_layer_builds_and_trains_under_mirrored_strategy(mirrored_run):
    # Built and compiled in strategy.scope(), one fit step on a global batch of 4
    # 9^3 grids: with synchronized batch norm and (second model) with
    # unsynchronized batch norm and field dropout 0.5.
    r = mirrored_run
    assert all(np.isfinite(loss) for loss in r["losses"].values())
    assert r["unsynced_finite"]
    assert r["unsynced_update"] > 1e-2
    # Every mirrored variable (kernels, bases, moving statistics, seed state) is
    # identical on the two devices after the step.
    assert r["replicas_agree"] == {"mirrored": True, "unsynced": True}


def test_mirrored_step_equals_single_device_step(mirrored_run):
    r = mirrored_run
    # The step moved the weights far more than the tolerance (a per-replica loss
    # average without the 1 / num_replicas scaling would double it).
    assert r["update"] > 1e-2
    # Same weights after one step on the same global batch (measured: 5e-7).
    assert r["weight_diff"] <= 1e-5
    assert r["losses"]["mirrored"] == pytest.approx(r["losses"]["single"], rel=1e-5)
    # Inference under the strategy (moving statistics) matches too.
    assert r["predict_diff"] <= 1e-5


def test_synchronized_batch_norm_uses_global_batch_statistics(mirrored_run):
    stats = {k: [np.array(s) for s in v] for k, v in mirrored_run["stats"].items()}
    initial = [np.array(s) for s in mirrored_run["stats_initial"]]
    for single, mirrored, start in zip(stats["single"], stats["mirrored"], initial):
        assert np.abs(single - start).max() > 1e-2  # the statistics did move
        np.testing.assert_allclose(mirrored, single, rtol=1e-5, atol=1e-6)
    # Unsynchronized: each replica normalises with its own half's statistics; the
    # moving statistics are averaged over the replicas. Means and mean squares of
    # the halves average to the global ones, but the scalar variances miss the
    # spread between the halves (here x[:2] is shifted and scaled).
    mean, variance = stats["unsynced"]
    np.testing.assert_allclose(mean, stats["single"][0], rtol=1e-5, atol=1e-6)
    # Fields 2x0 + 1x1: the two scalar variances, then the vector's mean square.
    assert np.abs(variance[:2] - stats["single"][1][:2]).max() > 0.1
    np.testing.assert_allclose(variance[2:], stats["single"][1][2:], rtol=1e-5)
