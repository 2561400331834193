"""Rotations acting on feature maps: ``[R f](x) = D(R) f(R^-1 x)``.

A feature map is a channels-last numpy array ``[batch, X, Y, Z, C]`` whose
channels are the fields of a :class:`~keras_se3.FieldType`.  Rotating it moves
the voxels (the spatial part) and turns each field by its Wigner D-matrix (the
channel part).  Use these to test equivariance and to augment data; the group
maths itself (rotation matrices, ``D^l``) is in :mod:`keras_se3.so3`.

* :func:`rotate_grid`: exact, for the 24 rotations of the cube.
* :func:`resample_grid`: any rotation, by spline interpolation (approximate).
"""

import numpy as np

from keras_se3.field_type import FieldType
from keras_se3.so3 import as_matrix

__all__ = ["resample_grid", "rotate_grid"]


def _check_grid(grid, name):
    grid = np.asarray(grid)
    if grid.ndim != 5:
        raise ValueError(
            f"{name} expects a [batch, X, Y, Z, C] array, got shape {grid.shape}; "
            "add the missing batch or channel axis, e.g. grid[None] or grid[..., None]."
        )
    return grid


def _channel_action(field_type, matrix, channels):
    """``D(R)`` of ``field_type`` ``[C, C]``, checked against the grid's channels."""
    ftype = FieldType(field_type)
    if ftype.dim != channels:
        raise ValueError(
            f"Field type {ftype} has {ftype.dim} channels but the grid has "
            f"{channels}; pass the field type of the grid's last axis."
        )
    return ftype.representation(matrix)


def rotate_grid(grid, rotation, field_type=None):
    """Rotate a feature map by one of the 24 cube rotations, exactly.

    Computes ``[R f](x) = D(R) f(R^-1 x)`` without interpolation: the spatial
    part permutes and flips axes (about the grid centre), the channels are
    multiplied by ``field_type``'s representation ``D(R)``.  The 24
    rotation-reflections of the cube (determinant -1) act the same way on scalar
    grids (``field_type=None``) and on O(3) field types.

    Args:
        grid: array ``[batch, X, Y, Z, C]`` with ``X == Y == Z``.
        rotation: a cube symmetry: a signed permutation matrix ``[3, 3]`` (e.g.
            from :func:`keras_se3.so3.cube_rotations` or
            :func:`keras_se3.so3.cube_symmetries`) or a scipy ``Rotation`` of one;
            determinant -1 needs an O(3) ``field_type`` or None.
        field_type: the :class:`~keras_se3.FieldType` (or its string) of the
            channels; ``None`` treats every channel as a scalar.

    Returns:
        The rotated array, same shape and dtype as ``grid``.

    Raises:
        ValueError: if ``rotation`` is not a cube rotation, the grid is not
            ``[batch, N, N, N, C]``, or ``field_type`` does not have ``C`` channels.

    Example:

    >>> quarter_z = keras_se3.so3.rotation_about_axis([0, 0, 1], np.pi / 2)
    >>> grid = np.zeros((1, 3, 3, 3, 3))
    >>> grid[0, 2, 1, 1] = [1.0, 0.0, 0.0]  # a vector +x at x = +1
    >>> np.argwhere(rotate_grid(grid, quarter_z, "1x1")[0] != 0).tolist()
    [[1, 2, 1, 1]]
    """
    matrix = as_matrix(rotation, allow_reflections=True)
    if not np.allclose(matrix, np.rint(matrix), atol=1e-9):
        raise ValueError(
            "rotate_grid works with the cube's symmetries only (signed axis "
            "permutations); use resample_grid for other rotations."
        )
    matrix = np.rint(matrix).astype(int)
    grid = _check_grid(grid, "rotate_grid")
    sizes = grid.shape[1:4]
    if len(set(sizes)) != 1:
        raise ValueError(
            f"rotate_grid needs a cubic grid, got spatial shape {sizes}; use "
            "resample_grid for other shapes."
        )
    n = sizes[0]
    centred = np.arange(n) - (n - 1) / 2
    coords = np.stack(np.meshgrid(centred, centred, centred, indexing="ij"), axis=-1)
    source = coords @ matrix  # row-vector form of R^T x
    index = np.rint(source + (n - 1) / 2).astype(int)
    out = grid[:, index[..., 0], index[..., 1], index[..., 2], :]
    if field_type is not None:
        action = _channel_action(field_type, matrix, grid.shape[-1])
        out = out @ action.T.astype(out.dtype)
    return out


def resample_grid(grid, rotation, field_type=None, order=3):
    """Rotate a feature map by any rotation, by spline resampling.

    Computes ``[R f](x) = D(R) f(R^-1 x)`` about the grid centre with
    ``scipy.ndimage.map_coordinates`` (zero outside the grid).  Unlike
    :func:`rotate_grid` this is approximate: use it for smooth fields and compare
    results inside the inscribed ball.

    Args:
        grid: array ``[batch, X, Y, Z, C]``.
        rotation: a rotation matrix ``[3, 3]`` or a scipy ``Rotation``.
        field_type: the :class:`~keras_se3.FieldType` (or its string) of the
            channels; ``None`` treats every channel as a scalar.
        order: spline order of the interpolation (0 to 5).

    Returns:
        float64 array with the shape of ``grid``.

    Raises:
        ValueError: if ``rotation`` is not a rotation, the grid is not 5-D, or
            ``field_type`` does not have ``C`` channels.

    Example:

    >>> rotation = keras_se3.so3.random_rotation(seed=0)
    >>> resample_grid(np.ones((1, 8, 8, 8, 3)), rotation, "1x1").shape
    (1, 8, 8, 8, 3)
    """
    from scipy.ndimage import map_coordinates

    matrix = as_matrix(rotation)
    grid = _check_grid(grid, "resample_grid")
    centre = (np.array(grid.shape[1:4]) - 1) / 2
    axes = [np.arange(n) - c for n, c in zip(grid.shape[1:4], centre)]
    coords = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    source = (coords @ matrix + centre).reshape(-1, 3).T  # R^-1 x, as indices
    out = np.empty(grid.shape, dtype=np.float64)
    for b in range(grid.shape[0]):
        for c in range(grid.shape[-1]):
            out[b, ..., c] = map_coordinates(
                grid[b, ..., c].astype(np.float64), source, order=order, mode="constant"
            ).reshape(grid.shape[1:4])
    if field_type is not None:
        out = out @ _channel_action(field_type, matrix, grid.shape[-1]).T
    return out
