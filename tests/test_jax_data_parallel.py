"""Training under ``keras.distribution.DataParallel`` on JAX, 2 host devices.

JAX's device count is fixed when it starts, so the run is one fresh process with
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` and ``KERAS_BACKEND=jax``:
one training step of the Tetris net (batch norm on) with the batch split over
the two devices must equal the same step on one device: every weight's update
(SGD, so the update is the gradient; the moving statistics, so batch norm sees
the whole batch) to 1e-5 of its size.
"""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]

_SCRIPT = textwrap.dedent(
    """
    import json

    import jax
    import keras
    import numpy as np

    import keras_se3
    from keras_se3.models import tetris_net

    assert keras.backend.backend() == "jax"
    devices = jax.devices("cpu")
    assert len(devices) == 2, devices
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 9, 9, 9, 1)).astype("float32")
    y = np.arange(8)


    def one_step(distribution):
        keras.distribution.set_distribution(distribution)
        keras.utils.set_random_seed(0)
        # No dropout: its masks are drawn per device under a distribution.
        model = tetris_net(dropout=0.0, batch_norm=True, momentum=0.5)
        model.compile(
            keras.optimizers.SGD(0.1),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        before = [np.array(w) for w in model.weights]
        loss = float(model.train_on_batch(x, y))
        after = [np.array(w) for w in model.weights]
        sharding = str(model.trainable_weights[0].value.sharding)
        model_weights[:] = [w.path for w in model.weights]
        return before, after, loss, sharding


    model_weights = []

    b1, a1, loss1, _ = one_step(None)
    b2, a2, loss2, sharding = one_step(
        keras.distribution.DataParallel(devices=devices)
    )
    start = max(float(np.abs(p - q).max()) for p, q in zip(b1, b2))
    errors = {}
    for w, p, q, s in zip(model_weights, a1, a2, b1):
        update = np.abs(p - s).max()
        if update > 0:
            errors[w] = float(np.abs((p - s) - (q - s)).max() / update)
    worst = max(errors, key=errors.get)
    print(json.dumps(dict(start=start, updated=len(errors), total=len(a1),
                          error=errors[worst], worst=worst,
                          loss1=loss1, loss2=loss2, sharding=sharding)))
    """
)


def test_one_data_parallel_step_equals_the_single_device_step():
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
        PYTHONPATH=str(ROOT),
    )
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["start"] == 0.0  # the same initial weights
    # The step moved the trainable weights and the moving statistics (not the
    # bases, which are non-trainable).
    assert report["updated"] > 20, report
    assert report["error"] <= 1e-5, report
    assert np.isclose(report["loss1"], report["loss2"], rtol=1e-5), report
