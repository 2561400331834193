"""Inference speed after collapse: original vs collapsed vs hand-written vs onnxruntime.

Side by side in one process (float32, CPU, batch of voxel grids, inference mode):

- *original*: the keras_se3 model, ``model(x, training=False)`` in a ``tf.function``
  (the kernels are re-assembled from basis and coefficients on every call);
- *collapsed*: ``keras_se3.collapse(model)``, stock Keras layers only;
- *hand-written* (Tetris net only): the same network written directly with
  ``Conv3D`` and a few ``keras.ops``, holding the same assembled kernels — what a
  user would write without keras_se3. Checked to compute the same function first;
- *onnxruntime*: the ONNX export of the collapsed model (``to_onnx``), served by
  onnxruntime's CPU provider.

Medians over interleaved repetitions (each timed call is one batch).

    python benchmarks/export.py                 # Tetris (2 option sets) and CATH
    python benchmarks/export.py --reps 5 --models tetris
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

from keras_se3 import collapse  # noqa: E402
from keras_se3.export import to_onnx  # noqa: E402
from keras_se3.export.exporters import relative_error  # noqa: E402
from keras_se3.layers.field_layer import scalar_bias, spread_matrix  # noqa: E402
from keras_se3.models import (  # noqa: E402
    PAPER_CODE_OPTIONS,
    cath_resnet,
    shrec17_net,
    tetris_net,
)

# (model builder, batch, grid); odd grids with (n - 1) divisible by the total stride.
SETTINGS = {
    "tetris": (lambda: tetris_net(), 8, 37),
    # The paper code's options: zero padding 4 (the full convolution), the paper
    # basis, an input blur; its 20^3 grid.
    "tetris-paper-code": (lambda: tetris_net(**PAPER_CODE_OPTIONS), 8, 20),
    "cath": (lambda: cath_resnet(), 4, 49),
    "shrec17": (lambda: shrec17_net(), 4, 33),
}


def _gaussian_blur(x, taps, name):
    """Separable per-channel blur written with stock layers: channels go to the
    batch axis, then one single-filter ``Conv3D`` pass per axis."""
    channels, spatial = x.shape[-1], tuple(x.shape[1:4])
    y = ops.transpose(x, (0, 4, 1, 2, 3))
    y = ops.expand_dims(ops.reshape(y, (-1, *spatial)), -1)
    for axis in range(3):
        size = [1, 1, 1]
        size[axis] = len(taps)
        conv = keras.layers.Conv3D(
            1, tuple(size), padding="same", use_bias=False, name=f"{name}_{axis}"
        )
        y = conv(y)
        conv.kernel.assign(np.reshape(taps, (*size, 1, 1)))
    y = ops.reshape(y, (-1, channels, *spatial))
    return ops.transpose(y, (0, 2, 3, 4, 1))


def hand_written_tetris(model, grid):
    """The Tetris net written with ``Conv3D`` + ``keras.ops``, weights from ``model``,
    for ``grid^3`` inputs (static shapes keep the hand-written reshapes simple).

    Each gated block: ``Conv3D(padding="same")`` (the grid is odd, so
    TensorFlow's "same" padding is symmetric here), ReLU on the scalars, sigmoid
    gates broadcast to their fields by ``ops.repeat``, then (stride 2) a Gaussian
    blur and every other voxel.  Biases of the gate are folded into the
    convolution's bias, as one would write it by hand.
    """
    inputs = keras.Input((grid, grid, grid, 1), name="voxels")
    x = inputs
    for index in range(1, 5):
        block = model.get_layer(f"gated_{index}")
        conv = block.conv
        kernel = np.asarray(conv.assembled_kernel())
        bias = np.zeros(kernel.shape[-1], "float32")
        if conv.bias is not None:
            bias += np.asarray(scalar_bias(conv.bias, conv.out_fields))
        fields = block.gate.fields
        scalars = np.flatnonzero(fields.channel_orders == 0)
        n_gates = np.count_nonzero(fields.field_orders > 0)
        if block.gate.bias is not None:
            bias[scalars] += np.asarray(block.gate.bias)
        if n_gates:
            bias[fields.dim :] += np.asarray(block.gate.gate_bias)
        layer = keras.layers.Conv3D(
            kernel.shape[-1],
            kernel.shape[0],
            strides=conv.strides,
            padding="same",
            name=f"conv_{index}",
        )
        x = layer(x)
        layer.set_weights([kernel, bias])
        # Scalars come first in the paper's types: [scalars | fields | gates].
        assert np.array_equal(scalars, np.arange(len(scalars)))
        if n_gates:
            s, v, g = ops.split(x, [len(scalars), fields.dim], axis=-1)
            repeats = spread_matrix(fields, np.flatnonzero(fields.field_orders > 0))
            g = ops.repeat(ops.sigmoid(g), repeats.sum(axis=1).astype(int), axis=-1)
            x = ops.concatenate([ops.relu(s), v * g], axis=-1)
        else:
            x = ops.relu(x)
        if block.down is not None:
            x = _gaussian_blur(x, block.down.blur_kernel_1d(), f"blur_{index}")
            step = block.down.factor
            x = x[:, ::step, ::step, ::step, :]
    x = keras.layers.GlobalAveragePooling3D(name="pool")(x)
    dense = model.get_layer("logits")
    head = keras.layers.Dense(dense.units, name="logits")
    outputs = head(x)
    head.set_weights(dense.get_weights())
    return keras.Model(inputs, outputs, name="tetris_hand_written")


def _keras_runner(model):
    call = tf.function(lambda x: model(x, training=False), jit_compile=False)
    return lambda x: call(x).numpy()


def _onnx_runner(path):
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def run(name, reps, workdir):
    build, batch, grid = SETTINGS[name]
    keras.utils.set_random_seed(0)
    model = build()
    x = np.random.default_rng(0).normal(size=(batch, grid, grid, grid, 1))
    x = x.astype("float32")
    collapsed = collapse(model)
    path = os.path.join(workdir, f"{name}.onnx")
    to_onnx(model, path)
    runners = {
        "original": _keras_runner(model),
        "collapsed": _keras_runner(collapsed),
    }
    if name == "tetris":
        runners["hand-written"] = _keras_runner(hand_written_tetris(model, grid))
    runners["onnxruntime"] = _onnx_runner(path)

    reference = runners["original"](x)
    for label, runner in runners.items():  # warm-up, and the same function?
        error = relative_error([reference], [runner(x)])
        if error > 1e-4:
            raise RuntimeError(f"{name}: {label} differs from the original ({error})")
    times = {label: [] for label in runners}
    for _ in range(reps):  # interleaved, so drift hits every variant alike
        for label, runner in runners.items():
            start = time.perf_counter()
            runner(x)
            times[label].append(time.perf_counter() - start)
    return batch, grid, {k: statistics.median(v) for k, v in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument(
        "--models",
        nargs="+",
        choices=tuple(SETTINGS),
        default=["tetris", "tetris-paper-code", "cath"],
    )
    args = parser.parse_args()
    print(
        "| model | batch x grid | original (ms) | collapsed (ms) | hand-written (ms) "
        "| onnxruntime (ms) | original / collapsed | collapsed / hand-written |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.models:
            batch, grid, t = run(name, args.reps, workdir)
            ms = {k: f"{1000 * v:.0f}" for k, v in t.items()}
            hand = t.get("hand-written")
            print(
                f"| {name} | {batch} x {grid}^3 | {ms['original']} | "
                f"{ms['collapsed']} | {ms.get('hand-written', '-')} | "
                f"{ms['onnxruntime']} | {t['original'] / t['collapsed']:.2f}x | "
                + (f"{t['collapsed'] / hand:.2f}x |" if hand else "- |"),
                flush=True,
            )


if __name__ == "__main__":
    main()
