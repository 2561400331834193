"""Rotation helpers built on :class:`scipy.spatial.transform.Rotation`."""

import numpy as np
from scipy.spatial.transform import Rotation


def as_matrix(rotation):
    """Rotation matrices ``[..., 3, 3]`` (float64) from matrices or a scipy Rotation.

    Raises:
        ValueError: if the input is not a proper rotation (orthogonal, det +1).
    """
    if isinstance(rotation, Rotation):
        return rotation.as_matrix()
    matrix = np.asarray(rotation, dtype=np.float64)
    if matrix.shape[-2:] != (3, 3):
        raise ValueError(
            f"A rotation must be a [..., 3, 3] matrix or a scipy Rotation, "
            f"got an array of shape {matrix.shape}."
        )
    eye = np.einsum("...ji,...jk->...ik", matrix, matrix)
    if not np.allclose(eye, np.eye(3), atol=1e-6) or not np.allclose(
        np.linalg.det(matrix), 1.0, atol=1e-6
    ):
        raise ValueError(
            "Not a rotation matrix: it must be orthogonal with determinant +1 "
            "(reflections are not in SO(3))."
        )
    return matrix


def random_rotation(n=None, seed=None):
    """Haar-random rotations: ``[3, 3]`` if ``n`` is None, else ``[n, 3, 3]``."""
    return Rotation.random(n, random_state=seed).as_matrix()


def rotation_about_axis(axis, angle):
    """Matrix of the rotation by ``angle`` radians about ``axis`` (right hand)."""
    axis = np.asarray(axis, dtype=np.float64)
    norm = np.linalg.norm(axis)
    if axis.shape != (3,) or norm == 0:
        raise ValueError(f"`axis` must be a non-zero 3-vector, got {axis!r}.")
    return Rotation.from_rotvec(axis / norm * angle).as_matrix()


def cube_rotations():
    """The 24 rotations of the cube (signed permutation matrices, det +1).

    They map the voxel grid onto itself, so they act on feature maps without
    interpolation.  Returned as an integer-valued float64 array ``[24, 3, 3]`` in
    a fixed order, the identity first.
    """
    matrices = np.rint(Rotation.create_group("O").as_matrix()) + 0.0  # no -0.0
    # A fixed order that does not depend on scipy's: lexicographically
    # descending entries, which puts the identity first.
    order = sorted(range(len(matrices)), key=lambda i: tuple(-matrices[i].ravel()))
    return matrices[order]


def rotate_grid(grid, rotation, field_type=None):
    """Rotate a channels-last feature map ``[batch, X, Y, Z, C]`` by a cube rotation.

    Computes ``[R f](x) = D(R) f(R^-1 x)`` exactly (no interpolation): the spatial
    part by permuting and flipping axes, the channels by ``field_type``'s
    representation (all channels are treated as scalars if it is None).

    Raises:
        ValueError: if ``rotation`` is not one of the 24 cube rotations or the grid
            is not cubic in the rotated axes.
    """
    from keras_se3.field_type import FieldType

    matrix = as_matrix(rotation)
    if not np.allclose(matrix, np.rint(matrix), atol=1e-9):
        raise ValueError(
            "rotate_grid works with the 24 cube rotations only (signed axis "
            "permutations); resample with scipy.ndimage for other rotations."
        )
    matrix = np.rint(matrix).astype(int)
    grid = np.asarray(grid)
    if grid.ndim != 5:
        raise ValueError(
            f"Expected a [batch, X, Y, Z, C] array, got shape {grid.shape}."
        )
    sizes = grid.shape[1:4]
    if len(set(sizes)) != 1:
        raise ValueError(f"rotate_grid needs a cubic grid, got spatial shape {sizes}.")
    n = sizes[0]
    centred = np.arange(n) - (n - 1) / 2
    coords = np.stack(np.meshgrid(centred, centred, centred, indexing="ij"), axis=-1)
    source = coords @ matrix  # row-vector form of R^T x
    index = np.rint(source + (n - 1) / 2).astype(int)
    out = grid[:, index[..., 0], index[..., 1], index[..., 2], :]
    if field_type is not None:
        ftype = FieldType(field_type)
        if ftype.dim != grid.shape[-1]:
            raise ValueError(
                f"Field type {ftype} has {ftype.dim} channels but the grid has "
                f"{grid.shape[-1]}."
            )
        out = out @ ftype.representation(matrix).T.astype(out.dtype)
    return out


def resample_grid(grid, rotation, field_type=None, order=3):
    """Rotate a feature map ``[batch, X, Y, Z, C]`` by any rotation, by resampling.

    Computes ``[R f](x) = D(R) f(R^-1 x)`` with spline interpolation
    (``scipy.ndimage.map_coordinates``, zero outside the grid), about the grid
    centre.  Unlike :func:`rotate_grid` this is approximate: use it for smooth
    fields and compare inside the inscribed ball.
    """
    from scipy.ndimage import map_coordinates

    from keras_se3.field_type import FieldType

    matrix = as_matrix(rotation)
    grid = np.asarray(grid)
    if grid.ndim != 5:
        raise ValueError(
            f"Expected a [batch, X, Y, Z, C] array, got shape {grid.shape}."
        )
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
        ftype = FieldType(field_type)
        if ftype.dim != grid.shape[-1]:
            raise ValueError(
                f"Field type {ftype} has {ftype.dim} channels but the grid has "
                f"{grid.shape[-1]}."
            )
        out = out @ ftype.representation(matrix).T
    return out
