"""Rotation matrices built on :class:`scipy.spatial.transform.Rotation`.

Rotating a feature map (rather than a point) is :mod:`keras_se3.transforms`.
"""

import numpy as np
from scipy.spatial.transform import Rotation


def as_matrix(rotation, allow_reflections=False):
    """Rotation matrices ``[..., 3, 3]`` (float64) from matrices or a scipy Rotation.

    Args:
        rotation: matrices or a ``scipy.spatial.transform.Rotation``.
        allow_reflections: accept every orthogonal matrix (O(3): determinant
            +1 or -1), not only rotations.

    Raises:
        ValueError: if the input is not a proper rotation (orthogonal, det +1),
            or with ``allow_reflections`` not orthogonal.
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
    det = np.linalg.det(matrix)
    if allow_reflections:
        det = np.abs(det)
        if not np.allclose(eye, np.eye(3), atol=1e-6):
            raise ValueError(
                "Not an element of O(3): the matrix must be orthogonal (a rotation, "
                "or a rotation times a reflection)."
            )
    if not np.allclose(eye, np.eye(3), atol=1e-6) or not np.allclose(
        det, 1.0, atol=1e-6
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


def cube_symmetries():
    """The 48 symmetries of the cube: O(3)'s signed permutation matrices.

    The 24 rotations of :func:`cube_rotations` first (same order), then the 24
    rotation-reflections, ``-R`` for each of them (the inversion times a
    rotation; determinant -1).  An integer-valued float64 array ``[48, 3, 3]``.
    """
    rotations = cube_rotations()
    return np.concatenate([rotations, -rotations + 0.0])  # + 0.0: no -0.0
