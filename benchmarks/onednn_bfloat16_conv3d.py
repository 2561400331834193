"""TensorFlow's bfloat16 Conv3D filter gradient with ``padding="same"`` and a kernel
larger than its input, and what SE3Conv3D's explicit padding costs instead.

Plain TensorFlow, no keras_se3: for each case, the filter gradient of
``sum(conv3d(x, w) ** 2)`` in bfloat16 is compared with the float32 one (relative
max error; bfloat16 rounding alone gives ~5e-3), once with the backend's "same"
and once with ``tf.pad`` + "valid" (what ``SE3Conv3D`` does where the kernel is
larger than the grid). With TensorFlow 2.21's oneDNN kernels
(``TF_ENABLE_ONEDNN_OPTS=1``, the default on CPUs with AVX-512 VNNI/bfloat16/AMX)
"same" returns NaN or ~1e30 filter gradients wherever the kernel is larger than
the input; with ``TF_ENABLE_ONEDNN_OPTS=0`` both columns are bfloat16 rounding.
Then the time of a float32 and a bfloat16 training-step convolution (forward and
both gradients) with explicit padding relative to "same", on grids where "same"
is correct: the price SE3Conv3D would pay if it always padded explicitly.

    TF_ENABLE_ONEDNN_OPTS=1 python benchmarks/onednn_bfloat16_conv3d.py
"""

import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
from machine import cpu_name, usable_cores  # noqa: E402  (examples/machine.py)

# (batch, grid, C_in, C_out, kernel): kernel > grid in the first four.
CASES = [
    (8, 3, 160, 128, 5),  # the last layer of the Tetris net on 9^3 pieces
    (2, 3, 16, 8, 5),
    (2, 4, 16, 8, 5),
    (2, 2, 16, 8, 3),
    (2, 5, 16, 8, 5),
    (2, 7, 16, 8, 5),
]
TIMED = [(4, 32, 26, 26, 5), (8, 16, 64, 64, 5)]


def step(x, w, dtype, explicit):
    """Loss and both gradients of one convolution, in ``dtype``."""
    pad = (w.shape[0] - 1) // 2
    with tf.GradientTape() as tape:
        tape.watch([x, w])
        inputs = tf.cast(x, dtype)
        if explicit:
            inputs = tf.pad(inputs, [(0, 0)] + [(pad, pad)] * 3 + [(0, 0)])
        out = tf.nn.conv3d(
            inputs, tf.cast(w, dtype), [1] * 5, "VALID" if explicit else "SAME"
        )
        loss = tf.reduce_sum(tf.cast(out, "float32") ** 2)
    return tape.gradient(loss, [x, w])


def arrays(batch, grid, c_in, c_out, kernel, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, grid, grid, grid, c_in)).astype("float32")
    w = 0.05 * rng.normal(size=(kernel, kernel, kernel, c_in, c_out))
    return tf.constant(x), tf.constant(w.astype("float32"))


def filter_gradient_error(case, explicit):
    x, w = arrays(*case)
    reference = step(x, w, "float32", explicit)[1].numpy()
    bf16 = step(x, w, "bfloat16", explicit)[1].numpy()
    with np.errstate(invalid="ignore", over="ignore"):
        return np.abs(bf16 - reference).max() / np.abs(reference).max()


def timing(case, dtype, reps=5):
    x, w = arrays(*case)
    funcs = {
        explicit: tf.function(lambda x, w, e=explicit: step(x, w, dtype, e))
        for explicit in (False, True)
    }
    best = {}
    for func in funcs.values():
        func(x, w)  # trace
    for _ in range(reps):  # interleaved
        for explicit, func in funcs.items():
            start = time.perf_counter()
            func(x, w)[1].numpy()
            best[explicit] = min(best.get(explicit, 1e9), time.perf_counter() - start)
    return best[True] / best[False]


def main():
    print(
        f"TensorFlow {tf.__version__}, TF_ENABLE_ONEDNN_OPTS="
        f"{os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset')}, {cpu_name()}, "
        f"{usable_cores()} cores"
    )
    print("\nbfloat16 filter gradient vs float32 (relative max error)")
    print("batch grid C_in C_out kernel | 'same'   | pad + 'valid'")
    for case in CASES:
        same = filter_gradient_error(case, explicit=False)
        padded = filter_gradient_error(case, explicit=True)
        print(f"{str(case):28} | {same:8.2g} | {padded:8.2g}")
    print("\ntraining-step time, explicit padding / 'same' (min of 5)")
    for case in TIMED:
        for dtype in ("float32", "bfloat16"):
            print(f"{str(case):28} {dtype:9} {timing(case, dtype):.2f}")


if __name__ == "__main__":
    main()
