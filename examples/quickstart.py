"""keras_se3 in one minute: an equivariant network, checked, trained, saved.

Builds a small SE3Conv3D network that maps a scalar density to a scalar field and
a vector field, shows that rotating the input rotates the output (exactly for the
24 rotations of the cube, up to discretisation for an arbitrary rotation), fits it
to a toy equivariant task with `model.fit`, then saves and reloads it.

Run: `make demo` (or `python examples/quickstart.py`).
"""

import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_se3  # noqa: E402
from keras_se3 import FieldType, SE3Conv3D, so3  # noqa: E402
from keras_se3.transforms import resample_grid, rotate_grid  # noqa: E402

SIZE = 17  # odd: the grid centre is a voxel centre
# The equivariance check runs on a larger grid (the network takes any size), so
# that the zero padding at the border stays away from the compared region.
CHECK_SIZE = 29
OUT = FieldType("1x0 + 1x1")  # one scalar field and one vector field


def blobs(centres, weights, size=SIZE, sigma=2.0):
    """Sums of Gaussian blobs: the density [batch, n, n, n, 1] and its gradient
    times sigma [batch, n, n, n, 3], both exact (no finite differences)."""
    axis = np.arange(size) - (size - 1) / 2
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
    offset = grid[None, :, :, :, None, :] - centres[:, None, None, None]
    bump = np.exp(-(offset**2).sum(-1) / (2 * sigma**2)) * weights[:, None, None, None]
    gradient = -(offset * bump[..., None]).sum(-2) / sigma
    return bump.sum(-1)[..., None], gradient


def toy_data(n, seed):
    """Input: a density of three blobs. Target (an equivariant map to learn): the
    density itself as the scalar field and its gradient as the vector field."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-4, 4, size=(n, 3, 3))
    weights = rng.uniform(0.5, 1.5, size=(n, 3))
    density, gradient = blobs(centres, weights)
    return density.astype("float32"), np.concatenate([density, gradient], -1).astype(
        "float32"
    )


def build_model():
    inputs = keras.Input((None, None, None, 1))
    h = SE3Conv3D("4x0 + 4x1 + 2x2", kernel_size=5, name="conv1")(inputs)
    h = SE3Conv3D("4x0 + 4x1", 5, in_fields="4x0 + 4x1 + 2x2", name="conv2")(h)
    outputs = SE3Conv3D(OUT, 5, in_fields="4x0 + 4x1", name="conv3")(h)
    return keras.Model(inputs, outputs, name="quickstart")


def relative_error(a, b, mask=None):
    if mask is not None:
        a, b = a[:, mask], b[:, mask]
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def check_equivariance(model):
    rng = np.random.default_rng(0)
    centres = rng.uniform(-3, 3, size=(1, 3, 3))
    weights = rng.uniform(0.5, 1.5, size=(1, 3))
    x = blobs(centres, weights, size=CHECK_SIZE)[0].astype("float32")
    y = model.predict(x, verbose=0)

    cube = []
    for rotation in so3.cube_rotations():
        y_rot = model.predict(rotate_grid(x, rotation), verbose=0)
        cube.append(relative_error(y_rot, rotate_grid(y, rotation, OUT)))
    print(f"  24 cube rotations:  max relative error {max(cube):.1e} (float32)")

    # An arbitrary rotation: render the rotated blobs exactly, rotate the output
    # by cubic-spline resampling, compare inside the inscribed ball.
    rotation = so3.random_rotation(seed=7)
    x_rot = blobs(centres @ rotation.T, weights, size=CHECK_SIZE)[0].astype("float32")
    y_rot = model.predict(x_rot, verbose=0)
    axis = np.arange(CHECK_SIZE) - (CHECK_SIZE - 1) / 2
    r = np.sqrt(sum(a**2 for a in np.meshgrid(axis, axis, axis, indexing="ij")))
    error = relative_error(y_rot, resample_grid(y, rotation, OUT), mask=r <= 8)
    print(f"  a random rotation:  relative error {error:.1e} (grid discretisation)")


def main():
    start = time.perf_counter()
    keras.utils.set_random_seed(0)
    print(f"keras_se3 {keras_se3.__version__}, Keras {keras.__version__}")
    model = build_model()
    model.summary()

    print("\nEquivariance of the untrained network:")
    check_equivariance(model)

    print("\nFitting a toy task (scalar: the density, vector: its gradient):")
    x, y = toy_data(256, seed=1)
    x_val, y_val = toy_data(64, seed=2)
    model.compile(optimizer=keras_se3.optimizers.Adam(3e-3), loss="mse")
    before = model.evaluate(x_val, y_val, verbose=0)
    model.fit(x, y, batch_size=16, epochs=4, validation_data=(x_val, y_val), verbose=2)
    after = model.evaluate(x_val, y_val, verbose=0)
    print(f"  validation loss {before:.4f} -> {after:.4f}")

    print("\nEquivariance of the trained network:")
    check_equivariance(model)

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "quickstart.keras")
        model.save(path)
        reloaded = keras.saving.load_model(path, safe_mode=True)
        same = np.array_equal(
            reloaded.predict(x_val, verbose=0), model.predict(x_val, verbose=0)
        )
    print(
        f"\nSaved and reloaded ({path.rsplit('/', 1)[-1]}): identical outputs: {same}"
    )
    print(f"Done in {time.perf_counter() - start:.0f} s.")
    if not same or after >= before:
        raise SystemExit("quickstart: something is wrong (see above)")


if __name__ == "__main__":
    main()
