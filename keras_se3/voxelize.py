"""Points -> voxel grids, and exact random rotations, for ``tf.data`` pipelines.

Conventions (the package's): the grid is channels-last ``[X, Y, Z, C]``, array axes
0, 1, 2 are the x, y, z coordinates, and voxel ``i`` of an axis of ``n`` voxels has
its centre at ``(i - (n - 1) / 2) * voxel_size``: the grid is centred on the origin.
A rotation ``R`` acts on a field by ``[R f](x) = f(R^-1 x)``, so voxelising points
rotated by ``R`` (``x -> R x``) gives the voxel grid rotated by ``R``.

Rotating the *coordinates* before voxelising is exact for any rotation (nothing is
resampled); only the cube rotations can rotate a grid exactly afterwards
(:func:`keras_se3.transforms.rotate_grid`).

Every function exists twice: a TensorFlow version that runs inside
``tf.data.Dataset.map`` (graph mode, no Python loop over points) and a numpy twin
(suffix ``_np``) computing the same thing, for tests and offline use.
"""

import numpy as np
import tensorflow as tf

__all__ = [
    "random_rotation_matrix",
    "random_rotations",
    "random_subvoxel_offset",
    "random_subvoxel_offsets",
    "rotate_points",
    "rotate_points_np",
    "voxelize_points",
    "voxelize_points_np",
]


def _check_grid_args(grid_size, voxel_size, sigma):
    if int(grid_size) != grid_size or grid_size < 1:
        raise ValueError(f"`grid_size` must be a positive integer, got {grid_size!r}.")
    if not voxel_size > 0:
        raise ValueError(f"`voxel_size` must be positive, got {voxel_size!r}.")
    if not sigma > 0:
        raise ValueError(
            f"`sigma` (the Gaussian's standard deviation, in the units of the "
            f"coordinates) must be positive, got {sigma!r}."
        )


def voxelize_points_np(
    points,
    grid_size,
    voxel_size=1.0,
    sigma=1.0,
    *,
    channels=None,
    num_channels=None,
    weights=None,
    normalize=True,
    dtype="float32",
):
    """Gaussian splatting of points onto a centred cubic grid (numpy).

    Each point ``p`` adds ``weight * g(x - p)`` to channel ``channels[p]`` of the
    grid, with ``g`` an isotropic Gaussian of standard deviation ``sigma`` sampled at
    the voxel centres.  The Gaussian is separable and the grid symmetric, so the
    result is exactly equivariant under the 24 cube rotations.

    Points with any coordinate outside the grid, ``|x| > grid_size * voxel_size / 2``,
    are dropped (not clipped to the border) and counted.

    Args:
        points: ``[P, 3]`` coordinates (same units as ``voxel_size`` and ``sigma``).
        grid_size: ``n``, the number of voxels along each axis.
        voxel_size: edge length of a voxel.
        sigma: standard deviation of each point's Gaussian.
        channels: optional ``[P]`` integer channel id of each point (e.g. the atom
            type), in ``[0, num_channels)``.  Default: one channel.
        num_channels: number of output channels ``C``; required with ``channels``.
        weights: optional ``[P]`` weight (mass) of each point; default 1.  Use 0 to
            mask out padding.
        normalize: if True (default), each point's sampled Gaussian is normalised to
            sum to one over the grid (separately along each axis), so a point inside
            the grid contributes exactly its weight: the grid's total mass is the sum
            of the weights of the points kept.  If False, the Gaussian's peak is 1.
        dtype: output dtype; the computation runs in this precision.

    Returns:
        A tuple ``(grid, num_dropped)``: the ``[n, n, n, C]`` grid and the number of
        points dropped for lying outside it.

    Raises:
        ValueError: for malformed arguments (shapes, sizes, channel ids).
    """
    _check_grid_args(grid_size, voxel_size, sigma)
    n = int(grid_size)
    dtype = np.dtype(dtype)
    points = np.asarray(points, dtype=dtype)
    if points.ndim != 2 or points.shape[-1] != 3:
        raise ValueError(f"`points` must have shape [P, 3], got {points.shape}.")
    num_points = points.shape[0]
    if weights is None:
        weights = np.ones(num_points, dtype)
    weights = np.asarray(weights, dtype=dtype)
    if weights.shape != (num_points,):
        raise ValueError(
            f"`weights` must have shape [P] = [{num_points}], got {weights.shape}."
        )
    if channels is None:
        num_channels = 1 if num_channels is None else int(num_channels)
        onehot = np.ones((num_points, num_channels), dtype)
    else:
        if num_channels is None:
            raise ValueError("Pass `num_channels` together with `channels`.")
        channels = np.asarray(channels)
        if channels.shape != (num_points,) or not np.issubdtype(
            channels.dtype, np.integer
        ):
            raise ValueError(
                f"`channels` must be [P] = [{num_points}] integers, got "
                f"{channels.dtype} of shape {channels.shape}."
            )
        if num_points and (channels.min() < 0 or channels.max() >= num_channels):
            raise ValueError(
                f"Channel ids must lie in [0, {num_channels}), got values from "
                f"{channels.min()} to {channels.max()}."
            )
        onehot = np.eye(num_channels, dtype=dtype)[channels]

    half_extent = dtype.type(n * voxel_size / 2)
    inside = np.all(np.abs(points) <= half_extent, axis=-1)
    num_dropped = int(num_points - np.count_nonzero(inside))
    # Leave dropped points out of the sums (not zero-weighted): the grid is then
    # bit-identical to the grid of the kept points alone, whatever BLAS's
    # summation order for a different number of points.
    points, weights, onehot = points[inside], weights[inside], onehot[inside]
    num_points = points.shape[0]

    centres = ((np.arange(n) - (n - 1) / 2) * voxel_size).astype(dtype)
    scaled = (points[:, :, None] - centres) / dtype.type(sigma)  # [P, 3, n]
    gauss = np.exp(dtype.type(-0.5) * scaled * scaled)
    if normalize:
        total = gauss.sum(axis=-1, keepdims=True)
        gauss = gauss / np.maximum(total, np.finfo(dtype).tiny)
    gx, gy, gz = gauss[:, 0], gauss[:, 1], gauss[:, 2]
    xy = (gx[:, :, None] * gy[:, None, :]).reshape(num_points, n * n)
    zc = (gz[:, :, None] * (onehot * weights[:, None])[:, None, :]).reshape(
        num_points, -1
    )
    grid = (xy.T @ zc).reshape(n, n, n, -1)
    return grid.astype(dtype), num_dropped


def voxelize_points(
    points,
    grid_size,
    voxel_size=1.0,
    sigma=1.0,
    *,
    channels=None,
    num_channels=None,
    weights=None,
    normalize=True,
    dtype=tf.float32,
):
    """Gaussian splatting of points onto a centred cubic grid (TensorFlow).

    The TensorFlow version of :func:`voxelize_points_np` (same arguments and
    result): vectorised, usable inside ``tf.data.Dataset.map`` and ``tf.function``,
    with a dynamic number of points.  Channel ids outside ``[0, num_channels)``
    fail a ``tf.debugging`` assertion.

    Args:
        points: ``[P, 3]`` coordinates.
        grid_size: ``n`` (a Python int: it fixes the output shape).
        voxel_size: edge length of a voxel.
        sigma: standard deviation of each point's Gaussian.
        channels: optional ``[P]`` integer channel ids.
        num_channels: number of output channels (Python int); required with
            ``channels``.
        weights: optional ``[P]`` weights.
        normalize: normalise each point's Gaussian to sum to its weight.
        dtype: computation and output dtype.

    Returns:
        A tuple ``(grid, num_dropped)``: a ``[n, n, n, C]`` tensor and an int32
        scalar tensor counting the points outside the grid.
    """
    _check_grid_args(grid_size, voxel_size, sigma)
    n = int(grid_size)
    dtype = tf.as_dtype(dtype)
    points = tf.convert_to_tensor(points)
    if points.shape.rank is not None and (
        points.shape.rank != 2 or points.shape[-1] not in (None, 3)
    ):
        raise ValueError(f"`points` must have shape [P, 3], got {points.shape}.")
    points = tf.cast(points, dtype)
    num_points = tf.shape(points)[0]
    if weights is None:
        weights = tf.ones([num_points], dtype)
    else:
        weights = tf.cast(weights, dtype)
    if channels is None:
        num_channels = 1 if num_channels is None else int(num_channels)
        onehot = tf.ones([num_points, num_channels], dtype)
    else:
        if num_channels is None:
            raise ValueError("Pass `num_channels` together with `channels`.")
        channels = tf.convert_to_tensor(channels)
        if not channels.dtype.is_integer:
            raise ValueError(f"`channels` must be integers, got {channels.dtype}.")
        checks = [
            tf.debugging.assert_non_negative(
                channels, message="channel ids must be >= 0"
            ),
            tf.debugging.assert_less(
                channels,
                tf.cast(num_channels, channels.dtype),
                message=f"channel ids must be < num_channels = {num_channels}",
            ),
        ]
        with tf.control_dependencies(checks):
            onehot = tf.one_hot(channels, int(num_channels), dtype=dtype)

    half_extent = tf.constant(n * voxel_size / 2, dtype)
    inside = tf.reduce_all(tf.abs(points) <= half_extent, axis=-1)
    num_dropped = num_points - tf.math.count_nonzero(inside, dtype=tf.int32)
    weights = tf.where(inside, weights, tf.zeros_like(weights))

    centres = tf.constant((np.arange(n) - (n - 1) / 2) * voxel_size, dtype)
    scaled = (points[:, :, None] - centres) / tf.constant(sigma, dtype)
    gauss = tf.exp(tf.constant(-0.5, dtype) * scaled * scaled)
    if normalize:
        total = tf.reduce_sum(gauss, axis=-1, keepdims=True)
        gauss = gauss / tf.maximum(
            total, tf.constant(np.finfo(dtype.as_numpy_dtype).tiny, dtype)
        )
    gx, gy, gz = gauss[:, 0], gauss[:, 1], gauss[:, 2]
    xy = tf.reshape(gx[:, :, None] * gy[:, None, :], [num_points, n * n])
    zc = tf.reshape(
        gz[:, :, None] * (onehot * weights[:, None])[:, None, :], [num_points, -1]
    )
    grid = tf.reshape(tf.matmul(xy, zc, transpose_a=True), [n, n, n, -1])
    return grid, num_dropped


def rotate_points_np(points, rotation):
    """Rotate ``[..., 3]`` points by ``x -> R x`` (numpy)."""
    return np.asarray(points) @ np.asarray(rotation).T


def rotate_points(points, rotation):
    """Rotate ``[..., 3]`` points by ``x -> R x`` (TensorFlow).

    With the package's convention ``[R f](x) = f(R^-1 x)``, voxelising the rotated
    points gives the grid rotated by ``R``.
    """
    points = tf.convert_to_tensor(points)
    rotation = tf.cast(rotation, points.dtype)
    return tf.linalg.matvec(rotation, points)


def random_rotation_matrix(seed, dtype=tf.float32):
    """One Haar-random rotation ``[3, 3]`` from a stateless seed (TensorFlow).

    A normalised 4D Gaussian is a uniform unit quaternion, whose rotation matrix is
    Haar-distributed on SO(3).  Same seed, same rotation (``tf.random.stateless_*``).

    Args:
        seed: a shape ``[2]`` integer tensor, as for ``tf.random.stateless_normal``.
        dtype: float dtype of the result.

    Returns:
        A ``[3, 3]`` rotation matrix (orthogonal, determinant +1).
    """
    q = tf.random.stateless_normal([4], seed=seed, dtype=tf.float64)
    q = q / tf.norm(q)
    w, x, y, z = q[0], q[1], q[2], q[3]
    matrix = tf.stack(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
    return tf.cast(matrix, dtype)


def random_rotations(seed, *, rerandomize_each_iteration=True, dtype=tf.float32):
    """An infinite ``tf.data.Dataset`` of Haar-random ``[3, 3]`` rotations.

    Zip it with a dataset to rotate each example's coordinates before voxelising::

        rotations = random_rotations(seed=0)
        ds = tf.data.Dataset.zip(ds, rotations).map(
            lambda ex, R: voxelize_points(rotate_points(ex["positions"], R), 50, 2.0)
        )

    The sequence is a pure function of ``seed`` (reproducible, independent of
    ``map`` parallelism).

    Args:
        seed: Python int.
        rerandomize_each_iteration: if True (the default, for training), each new
            iteration over the dataset (epoch) draws new rotations; if False, every
            iteration repeats the same sequence (for a fixed evaluation set).
        dtype: float dtype of the matrices.

    Returns:
        A ``tf.data.Dataset`` of ``[3, 3]`` rotation matrices.
    """
    if seed is None or int(seed) != seed:
        raise ValueError(
            f"`seed` must be an integer (the rotations are reproducible), got {seed!r}."
        )
    seeds = tf.data.Dataset.random(
        seed=int(seed), rerandomize_each_iteration=rerandomize_each_iteration
    ).batch(2, drop_remainder=True)
    return seeds.map(lambda s: random_rotation_matrix(s, dtype))


def random_subvoxel_offset(seed, dtype=tf.float32):
    """One translation ``[3]`` uniform in the voxel ``[-1/2, 1/2)^3`` (TensorFlow).

    In voxel units; multiply by the voxel size for coordinates.  Same seed, same
    offset (``tf.random.stateless_uniform``).

    Args:
        seed: a shape ``[2]`` integer tensor.
        dtype: float dtype of the result.

    Returns:
        A ``[3]`` tensor with entries in ``[-0.5, 0.5)``.
    """
    return tf.random.stateless_uniform([3], seed, -0.5, 0.5, dtype=dtype)


def random_subvoxel_offsets(seed, *, rerandomize_each_iteration=True, dtype=tf.float32):
    """An infinite ``tf.data.Dataset`` of sub-voxel translations ``[3]``.

    Why: a trained net sees its training objects at one placement relative to the
    voxel lattice, and learns the lattice's artefacts there (sharp 0/1 faces,
    Gaussians centred on voxels).  Rotated objects voxelised again never sit
    that way.  Translating each training example by a fresh offset uniform in one
    voxel before voxelising shows the net every placement; the nets are
    translation-equivariant, so this changes no label (docs/results.md measures
    what it does to the accuracy on rotated objects).

    Zip it with a dataset, as :func:`random_rotations`; the sequence is a pure
    function of ``seed``.

    Args:
        seed: Python int.
        rerandomize_each_iteration: new offsets on each iteration (default) or
            the same sequence every time.
        dtype: float dtype.

    Returns:
        A ``tf.data.Dataset`` of ``[3]`` offsets in voxel units, in ``[-0.5, 0.5)``.
    """
    if seed is None or int(seed) != seed:
        raise ValueError(
            f"`seed` must be an integer (the offsets are reproducible), got {seed!r}."
        )
    # One draw per offset, paired with a key of its own: the same integer seed
    # gives offsets unrelated to random_rotations(seed)'s rotations.
    seeds = tf.data.Dataset.random(
        seed=int(seed), rerandomize_each_iteration=rerandomize_each_iteration
    )
    key = tf.constant(_OFFSET_KEY, tf.int64)
    return seeds.map(lambda s: random_subvoxel_offset(tf.stack([s, key]), dtype))


_OFFSET_KEY = 0x5EED
