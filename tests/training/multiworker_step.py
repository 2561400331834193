"""One training step under MultiWorkerMirroredStrategy, as one worker process.

Run by tests/training/test_multiworker.py: ``python multiworker_step.py OUT``.
With ``TF_CONFIG`` set, this process is one worker of the cluster it names (every
worker runs this same script); without it, the step runs on one device.  The
global batch is the same 4 examples either way: each of 2 workers gets its half
(``tf.distribute`` splits the batch), and the synchronized batch norm computes
its statistics over the whole batch across the processes.

Writes ``OUT/<task>.npz`` (the weights before and after the step, and the loss):
``single`` without ``TF_CONFIG``, else ``worker_<index>``.
"""

import os
import sys

import numpy as np
import tensorflow as tf

SIZE = 9
FIELDS = "2x0 + 1x1"


def build():
    import keras

    from keras_se3.layers import (
        FieldBatchNormalization,
        Gate,
        InvariantPooling,
        SE3Conv3D,
        SE3GatedConv3D,
    )

    inputs = keras.Input((SIZE, SIZE, SIZE, 1))
    x = SE3Conv3D(Gate.input_fields(FIELDS), 3, in_fields="1x0", name="conv")(inputs)
    x = FieldBatchNormalization(
        Gate.input_fields(FIELDS), momentum=0.5, synchronized=True, name="bn"
    )(x)
    x = Gate(FIELDS, name="gate")(x)
    x = SE3GatedConv3D(FIELDS, 3, in_fields=FIELDS, strides=2, name="gated")(x)
    x = InvariantPooling(FIELDS, name="pool")(x)
    outputs = keras.layers.Dense(2, name="dense")(x)
    return keras.Model(inputs, outputs)


def main(out):
    from keras_se3.training import make_strategy, read_tf_config

    config = read_tf_config()
    strategy = make_strategy("multiworker" if config else "default")
    name = f"worker_{config['task']['index']}" if config else "single"
    import keras

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, SIZE, SIZE, SIZE, 1)).astype("float32")
    x[:2] = 3 * x[:2] + 1  # the two workers' halves have different statistics
    y = rng.normal(size=(4, 2)).astype("float32")
    # Every worker reads the whole batch; DATA sharding hands each its half.
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    data = data.with_options(options)

    keras.utils.set_random_seed(1)  # the same initial weights in every process
    with strategy.scope():
        model = build()
        # Plain SGD: the update is linear in the gradient of the global-batch mean.
        model.compile(keras.optimizers.SGD(0.1), "mse")
    before = [np.asarray(w) for w in model.get_weights()]
    history = model.fit(data, epochs=1, verbose=0)
    after = [np.asarray(w) for w in model.get_weights()]
    np.savez(
        os.path.join(out, f"{name}.npz"),
        loss=history.history["loss"][0],
        replicas=strategy.num_replicas_in_sync,
        **{f"before_{i}": w for i, w in enumerate(before)},
        **{f"after_{i}": w for i, w in enumerate(after)},
    )


if __name__ == "__main__":
    main(sys.argv[1])
