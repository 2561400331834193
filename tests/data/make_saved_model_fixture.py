"""Writes saved_2026_12_02.keras / .npz: a model saved by an older keras_se3.

Run with the keras_se3 of main at commit d5b6315 (2026-12-02, before the layers
were restructured) first on the path, from any directory:

    git worktree add /tmp/old_main d5b6315
    PYTHONPATH=/tmp/old_main python tests/data/make_saved_model_fixture.py

tests/test_saved_models.py loads the file with today's keras_se3. Every layer type
is in it, with the argument names of that time (SE3ResidualBlock's ``fields``).
"""

import pathlib

import keras
import numpy as np

import keras_se3
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

HERE = pathlib.Path(__file__).parent


def build():
    inputs = keras.Input((None, None, None, 1), name="voxels")
    x = SE3Conv3D("2x0 + 1x1 + 1x2", 3, in_fields="1x0", basis="paper")(inputs)
    x = FieldBatchNormalization("2x0 + 1x1 + 1x2")(x)
    x = NormActivation("2x0 + 1x1 + 1x2")(x)
    x = SE3Conv3D("3x0 + 1x1", 3, in_fields="2x0 + 1x1 + 1x2")(x)
    x = Gate("2x0 + 1x1")(x)  # 2 scalars, 1 gate scalar, 1 vector
    x = LowPassDownsampling3D(2)(x)
    x = SE3GatedConv3D(
        "2x0 + 1x1", 3, in_fields="2x0 + 1x1", batch_norm=True, strides=2
    )(x)
    x = SE3ResidualBlock("2x0 + 1x1", 3, in_fields="2x0 + 1x1", out_fields="2x0 + 1x1")(
        x
    )
    x = FieldDropout("2x0 + 1x1", 0.1)(x)
    x = SE3Conv3DTranspose("1x0 + 1x1", 3, in_fields="2x0 + 1x1", strides=2)(x)
    x = InvariantPooling("1x0 + 1x1")(x)
    outputs = keras.layers.Dense(3)(x)
    return keras.Model(inputs, outputs, name="every_layer")


def main():
    keras.utils.set_random_seed(0)
    model = build()
    x = np.random.default_rng(0).normal(size=(2, 9, 9, 9, 1)).astype("float32")
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    # A few steps, so the batch-norm statistics and weights are not the initial ones.
    model.fit(x, np.ones((2, 3)), epochs=3, verbose=0)
    model.save(HERE / "saved_2026_12_02.keras")
    np.savez(
        HERE / "saved_2026_12_02.npz",
        x=x,
        y=np.asarray(model(x, training=False)),
        version=keras_se3.__file__,
    )


if __name__ == "__main__":
    main()
