"""Speed of SE3Conv3D against keras.layers.Conv3D with the same channel counts.

Measures, side by side in one process (TensorFlow graph mode, float32, CPU):
forward time and forward+backward time (gradients w.r.t. the input and all
trainable weights), medians over interleaved repetitions, and the cold
construction time of the steerable layer (basis computed from scratch).

    python benchmarks/conv_overhead.py            # all settings
    python benchmarks/conv_overhead.py --reps 5   # quicker
"""

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_se3 import FieldType, SE3Conv3D  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
from machine import cpu_name, usable_cores  # noqa: E402  (examples/machine.py)

SETTINGS = [
    # (field type in and out, batch, grid, kernel)
    ("8x0 + 4x1 + 2x2", 4, 32, 5),
    ("16x0 + 8x1 + 4x2 + 2x3", 2, 32, 5),
    # O(3): the same channels with parities (vectors and pseudo-vectors).
    ("8x0e + 2x1o + 2x1e + 2x2e", 4, 32, 5),
]


def _steps(layer, x):
    @tf.function
    def forward(inputs):
        return layer(inputs)

    @tf.function
    def forward_backward(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss = tf.reduce_sum(layer(inputs) ** 2)
        return tape.gradient(loss, [inputs] + layer.trainable_weights)

    return forward, forward_backward


def _time(fn, x):
    start = time.perf_counter()
    out = fn(x)
    # Make sure the work is done before the clock stops.
    for tensor in tf.nest.flatten(out):
        tensor.numpy()
    return time.perf_counter() - start


def cold_construction_seconds(fields, kernel):
    """Build the layer in a fresh process, so no basis cache helps."""
    code = (
        "import time, numpy as np; from keras_se3 import SE3Conv3D, FieldType;"
        f"t = FieldType({fields!r});"
        f"layer = SE3Conv3D(t, {kernel}, in_fields=t);"
        "s = time.perf_counter(); layer.build((None, 8, 8, 8, t.dim));"
        "print(time.perf_counter() - s)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return float(out.stdout.strip().splitlines()[-1])


def run_setting(fields, batch, grid, kernel, reps):
    ftype = FieldType(fields)
    x = tf.constant(
        np.random.default_rng(0).normal(size=(batch, grid, grid, grid, ftype.dim)),
        dtype="float32",
    )
    steerable = SE3Conv3D(ftype, kernel, in_fields=ftype)
    plain = keras.layers.Conv3D(ftype.dim, kernel, padding="same")
    steerable.build(x.shape)
    plain.build(x.shape)
    fns = {"SE3Conv3D": _steps(steerable, x), "Conv3D": _steps(plain, x)}
    times = {(name, kind): [] for name in fns for kind in ("fwd", "fwd+bwd")}
    for fwd, fwd_bwd in fns.values():  # trace and warm up
        _time(fwd, x), _time(fwd_bwd, x)
    for _ in range(reps):  # interleaved, so drifts hit both alike
        for name, (fwd, fwd_bwd) in fns.items():
            times[name, "fwd"].append(_time(fwd, x))
            times[name, "fwd+bwd"].append(_time(fwd_bwd, x))
    med = {key: statistics.median(value) * 1000 for key, value in times.items()}
    cold = cold_construction_seconds(fields, kernel)
    params = sum(int(np.prod(w.shape)) for w in steerable.trainable_weights)
    print(
        f"\n### `{fields}` -> same ({ftype.dim} channels), batch {batch}, "
        f"{grid}^3, kernel {kernel}\n"
    )
    print("| | Conv3D | SE3Conv3D | ratio |")
    print("|---|---|---|---|")
    for kind in ("fwd", "fwd+bwd"):
        a, b = med["Conv3D", kind], med["SE3Conv3D", kind]
        print(f"| {kind} (median ms) | {a:.0f} | {b:.0f} | {b / a:.3f}x |")
    print(
        f"| trainable parameters | {int(np.prod(plain.kernel.shape)) + ftype.dim} "
        f"| {params} | |"
    )
    print(f"| cold construction (s) | | {cold:.2f} | |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=11)
    args = parser.parse_args()
    print(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, "
        f"{usable_cores()} cores of {cpu_name()}, graph mode, float32"
    )
    for setting in SETTINGS:
        run_setting(*setting, reps=args.reps)


if __name__ == "__main__":
    main()
