"""Equivariance of a random steerable convolution under a non-grid rotation.

Protocol (fixed; docs/benchmarks.md, "Equivariance under non-grid rotations"):

* layer: a random, default-initialised ``8x0+4x1+2x2 -> 8x0+4x1+2x2`` steerable
  convolution (kernel 5 unless ``--kernel-size``), 'same' padding, float64;
  only its linear part ``L(x) = layer(x) - layer(0)`` is compared;
* input: on a 32^3 grid, the sum of 6 Gaussian blobs (sigma 2 voxels) with random
  per-channel amplitudes ``a`` and centres ``c`` within 5 voxels of the grid centre;
* rotation: ``R`` = 0.7 rad about ``(1, 2, 3)/sqrt(14)``;
* ``x_R`` is rendered exactly from the rotated blobs (centres ``R c``, amplitudes
  ``D(R) a``), the output ``L(x)`` is rotated by cubic-spline resampling
  (``scipy.ndimage.map_coordinates``, order 3, at ``R^-1 p``, then ``D(R)``);
* error = ``||L(x_R) - R L(x)|| / ||R L(x)||`` over the ball of radius
  ``(n - 1)/2``; mean over seeds (new layer and new blobs per seed).

The same protocol applied to the identity map gives the resampling floor.

O(3): ``--fields "8x0e + 4x1o + 2x2e + 2x1e"`` (a type with parities) and
``--reflect`` (``R`` times the mirror ``z -> -z``: a rotation-reflection that maps
no grid axis onto another) measure the O(3) layer the same way.

Conventions: array axes 1, 2, 3 = x, y, z; voxel ``i`` at ``i - (n-1)/2``;
``[R f](x) = D(R) f(R^-1 x)``.

Usage::

    python benchmarks/equivariance.py --basis default --kernel-size 5 --seeds 6
    python benchmarks/equivariance.py --basis paper --kernel-size 3 5 7
    python benchmarks/equivariance.py --fields "8x0e + 4x1o + 2x2e + 2x1e" --reflect

The layer is ``keras_se3.layers.SE3Conv3D`` (float64) when it can be imported,
else a numpy implementation of the same linear map (``--backend numpy`` forces
the latter; it is also what ``evaluate`` uses for basis searches).
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from keras_se3 import FieldType  # noqa: E402
from keras_se3.basis import get_basis_config, kernel_basis  # noqa: E402
from keras_se3.so3 import rotation_about_axis  # noqa: E402

FIELDS = "8x0 + 4x1 + 2x2"
GRID = 32
N_BLOBS = 6
BLOB_SIGMA = 2.0
CENTRE_RADIUS = 5.0
ANGLE = 0.7
AXIS = (1.0, 2.0, 3.0)


def rotation():
    """The benchmark's rotation: 0.7 rad about (1, 2, 3)/sqrt(14)."""
    return rotation_about_axis(np.asarray(AXIS), ANGLE)


def coordinates(n=GRID):
    """Voxel centres ``[n, n, n, 3]`` (axis 1, 2, 3 = x, y, z; centred)."""
    axis = np.arange(n) - (n - 1) / 2
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)


def random_blobs(rng, dim):
    """``(centres [6, 3], amplitudes [6, dim])``: centres within 5 voxels of 0."""
    centres = []
    while len(centres) < N_BLOBS:
        c = rng.uniform(-CENTRE_RADIUS, CENTRE_RADIUS, size=3)
        if np.linalg.norm(c) <= CENTRE_RADIUS:
            centres.append(c)
    return np.array(centres), rng.standard_normal((N_BLOBS, dim))


def render(centres, amplitudes, n=GRID):
    """Sum of Gaussian blobs ``[n, n, n, dim]``."""
    p = coordinates(n)
    out = np.zeros((n, n, n, amplitudes.shape[1]))
    for c, a in zip(centres, amplitudes, strict=True):
        g = np.exp(-np.sum((p - c) ** 2, axis=-1) / (2 * BLOB_SIGMA**2))
        out += g[..., None] * a
    return out


def rotate_resampled(field, matrix, rep):
    """``[R f](p) = D(R) f(R^-1 p)`` by cubic-spline resampling, ``field [n,n,n,C]``."""
    n = field.shape[0]
    p = coordinates(n).reshape(-1, 3)
    source = p @ matrix  # rows: R^-1 p (R orthogonal)
    index = (source + (n - 1) / 2).T
    out = np.stack(
        [
            ndimage.map_coordinates(field[..., c], index, order=3, mode="constant")
            for c in range(field.shape[-1])
        ],
        axis=-1,
    )
    return (out @ rep.T).reshape(field.shape)


def ball_mask(n=GRID):
    return np.linalg.norm(coordinates(n), axis=-1) <= (n - 1) / 2 + 1e-9


# --- the layer -------------------------------------------------------------------


def _blocks(field_type):
    """``(l, multiplicity, channel offset)`` per term of a FieldType."""
    out, start = [], 0
    for mul, l in field_type.terms:
        out.append((l, mul, start))
        start += mul * (2 * l + 1)
    return out


def random_kernel(rng, in_type, out_type, kernel_size, basis, cache=None):
    """A random default-initialised kernel ``[k, k, k, C_in, C_out]`` (numpy).

    Per (l_in, l_out) pair: coefficients ``[mult_in, mult_out, n_basis]`` drawn
    from N(0, std^2), ``std = sqrt((2 l_out + 1) / (n_basis * in fields))``.
    Also returns the number of coefficients.
    """
    cache = {} if cache is None else cache
    k = kernel_size
    kernel = np.zeros((k, k, k, in_type.dim, out_type.dim))
    n_coeffs = 0
    for l_in, mul_in, a in _blocks(in_type):
        for l_out, mul_out, b in _blocks(out_type):
            key = (l_in, l_out, k)
            if key not in cache:
                cache[key] = kernel_basis(l_in, l_out, k, basis=basis)
            base = cache[key]
            n_basis = base.shape[0]
            if n_basis == 0:
                continue
            std = np.sqrt((2 * l_out + 1) / (n_basis * in_type.num_fields))
            w = rng.normal(0.0, std, size=(mul_in, mul_out, n_basis))
            n_coeffs += w.size
            block = np.einsum("uvb,bxyzio->xyzuivo", w, base)
            kernel[
                ..., a : a + mul_in * (2 * l_in + 1), b : b + mul_out * (2 * l_out + 1)
            ] = block.reshape(
                k, k, k, mul_in * (2 * l_in + 1), mul_out * (2 * l_out + 1)
            )
    return kernel, n_coeffs


def correlate_same(x, kernel):
    """Cross-correlation with zero 'same' padding: ``y[p] = sum_q K[q] x[p + q]``.

    ``x [n, n, n, C_in]``, ``kernel [k, k, k, C_in, C_out]`` (via FFT, float64).
    """
    n, k = x.shape[0], kernel.shape[0]
    h = k // 2
    size = n + k - 1
    fx = np.fft.rfftn(x, s=(size,) * 3, axes=(0, 1, 2))
    flipped = kernel[::-1, ::-1, ::-1]
    fk = np.fft.rfftn(flipped, s=(size,) * 3, axes=(0, 1, 2))
    fy = np.einsum("xyzi,xyzio->xyzo", fx, fk, optimize=True)
    y = np.fft.irfftn(fy, s=(size,) * 3, axes=(0, 1, 2))
    return y[h : h + n, h : h + n, h : h + n]


class NumpyLayer:
    """The linear part of SE3Conv3D in numpy (float64)."""

    def __init__(self, rng, in_type, out_type, kernel_size, basis, cache=None):
        self.kernel, self.n_coeffs = random_kernel(
            rng, in_type, out_type, kernel_size, basis, cache
        )

    def __call__(self, x):
        return correlate_same(x, self.kernel)


class KerasLayer:
    """``keras_se3.layers.SE3Conv3D`` in float64; ``__call__`` is its linear part."""

    def __init__(self, seed, in_type, out_type, kernel_size, basis):
        import keras

        from keras_se3.layers import SE3Conv3D

        keras.utils.set_random_seed(seed)
        self.layer = SE3Conv3D(
            str(out_type),
            kernel_size,
            in_fields=str(in_type),
            basis=basis,
            padding="same",
            dtype="float64",
        )
        self.layer.build((1, GRID, GRID, GRID, in_type.dim))
        self.n_coeffs = int(
            sum(
                np.prod(w.shape)
                for w in self.layer.trainable_weights
                if "bias" not in w.path
            )
        )
        self._zero = self._apply(np.zeros((GRID, GRID, GRID, in_type.dim)))

    def _apply(self, x):
        from keras import ops

        return np.asarray(ops.convert_to_numpy(self.layer(x[None])))[0].astype(
            np.float64
        )

    def __call__(self, x):
        return self._apply(x) - self._zero


def keras_available():
    try:
        from keras_se3.layers import SE3Conv3D  # noqa: F401
    except ImportError:
        return False
    return True


# --- the protocol -------------------------------------------------------------------


def evaluate(
    basis="default",
    kernel_size=5,
    seeds=6,
    backend="auto",
    fields=FIELDS,
    reflect=False,
):
    """Run the protocol.  Returns a dict with the per-seed errors and their mean.

    ``reflect``: use the rotation times the mirror ``z -> -z`` (needs an O(3)
    ``fields`` type, and the Keras layer)."""
    in_type = out_type = FieldType(fields)
    matrix = rotation() @ np.diag([1.0, 1.0, -1.0]) if reflect else rotation()
    rep = in_type.representation(matrix)
    mask = ball_mask()
    use_keras = backend == "keras" or (backend == "auto" and keras_available())
    if in_type.has_parity and not use_keras:
        raise ValueError("O(3) field types need the Keras layer (--backend keras)")
    cache, errors, floors, n_coeffs = {}, [], [], None
    for seed in range(seeds):
        # Same blobs for both backends; the layer draws from its own stream.
        centres, amplitudes = random_blobs(np.random.default_rng(seed), in_type.dim)
        if use_keras:
            layer = KerasLayer(seed, in_type, out_type, kernel_size, basis)
        else:
            layer_rng = np.random.default_rng([seed, 1])
            layer = NumpyLayer(layer_rng, in_type, out_type, kernel_size, basis, cache)
        n_coeffs = layer.n_coeffs
        x = render(centres, amplitudes)
        x_rot = render(centres @ matrix.T, amplitudes @ rep.T)
        floors.append(_error(x_rot, rotate_resampled(x, matrix, rep), mask))
        errors.append(
            _error(layer(x_rot), rotate_resampled(layer(x), matrix, rep), mask)
        )
    return {
        "basis": basis,
        "kernel_size": kernel_size,
        "backend": "keras" if use_keras else "numpy",
        "coefficients": n_coeffs,
        "errors": errors,
        "mean": float(np.mean(errors)),
        "identity": float(np.mean(floors)),
    }


def _error(direct, rotated, mask):
    return float(
        np.linalg.norm((direct - rotated)[mask]) / np.linalg.norm(rotated[mask])
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--basis",
        default="default",
        help="basis preset name, or a BasisConfig as JSON, e.g. "
        '\'{"widths": 0.6, "bandlimit": "compromise", "moment_order": 6}\'',
    )
    parser.add_argument("--kernel-size", type=int, nargs="+", default=[5])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--backend", choices=("auto", "keras", "numpy"), default="auto")
    parser.add_argument("--fields", default=FIELDS, help="field type in and out")
    parser.add_argument(
        "--reflect",
        action="store_true",
        help="a rotation-reflection (the rotation times z -> -z); O(3) fields",
    )
    args = parser.parse_args(argv)
    basis = args.basis
    if basis.lstrip().startswith("{"):
        basis = json.loads(basis)
    basis = get_basis_config(basis)  # fail early on an unknown preset
    print(f"basis={args.basis} ({basis})")
    group = "rotation-reflection" if args.reflect else "rotation"
    print(f"fields={args.fields} grid={GRID}^3 seeds={args.seeds} {group}")
    for k in args.kernel_size:
        start = time.perf_counter()
        r = evaluate(basis, k, args.seeds, args.backend, args.fields, args.reflect)
        print(
            f"k={k} backend={r['backend']} coefficients={r['coefficients']} "
            f"error={r['mean']:.2e} (per seed "
            + " ".join(f"{e:.2e}" for e in r["errors"])
            + f") identity={r['identity']:.2e} [{time.perf_counter() - start:.0f} s]"
        )


if __name__ == "__main__":
    main()
