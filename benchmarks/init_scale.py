"""Activation scale through a deep stack of randomly initialised linear layers.

White unit-variance input, 8 layers, no nonlinearity, 24^3 grid (statistics over
the central 8^3 to stay clear of the zero padding).  Compares SE3Conv3D (both
bases, mixed orders up to 3, default initialiser) with keras.layers.Conv3D of the
same channel counts (glorot_uniform and he_normal).

    python benchmarks/init_scale.py
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_se3 import FieldType, SE3Conv3D  # noqa: E402

TYPES = ["2x0 + 2x1 + 2x2 + 2x3", "4x0 + 2x1 + 2x2 + 1x3", "2x0 + 3x1 + 2x2 + 2x3"]
INPUT = "1x0 + 1x1"
DEPTH = 8


def run(make_layer, seed):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(2, 24, 24, 24, FieldType(INPUT).dim)).astype("float32")
    current, stds = INPUT, []
    for depth in range(DEPTH):
        out = TYPES[depth % 3]
        h = make_layer(current, out)(h)
        current = out
        stds.append(float(np.asarray(h)[:, 8:-8, 8:-8, 8:-8].std()))
    return stds


def main():
    makers = {
        "SE3Conv3D basis='paper'": lambda i, o: SE3Conv3D(
            o, 5, in_fields=i, basis="paper", use_bias=False
        ),
        "SE3Conv3D basis='default'": lambda i, o: SE3Conv3D(
            o, 5, in_fields=i, use_bias=False
        ),
        "Conv3D glorot_uniform": lambda i, o: keras.layers.Conv3D(
            FieldType(o).dim, 5, padding="same", use_bias=False
        ),
        "Conv3D he_normal": lambda i, o: keras.layers.Conv3D(
            FieldType(o).dim,
            5,
            padding="same",
            use_bias=False,
            kernel_initializer="he_normal",
        ),
    }
    print("| layer | " + " | ".join(f"depth {d + 1}" for d in range(DEPTH)) + " |")
    print("|---|" + "---|" * DEPTH)
    for name, make in makers.items():
        runs = np.array([run(make, seed) for seed in range(3)])
        mean = runs.mean(axis=0)
        print(f"| {name} | " + " | ".join(f"{s:.3g}" for s in mean) + " |")


if __name__ == "__main__":
    main()
