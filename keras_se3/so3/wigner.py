"""Real Wigner D-matrices in the basis of :mod:`spherical_harmonics`."""

import functools

import numpy as np

from keras_se3.so3.rotations import as_matrix
from keras_se3.so3.spherical_harmonics import check_order, spherical_harmonics


@functools.cache
def _sphere_quadrature(l):
    """Points and weights integrating polynomials of degree <= 2l exactly."""
    cos_theta, w_theta = np.polynomial.legendre.leggauss(l + 1)
    n_phi = 2 * l + 2
    phi = 2 * np.pi * np.arange(n_phi) / n_phi
    sin_theta = np.sqrt(1.0 - cos_theta**2)
    points = np.stack(
        [
            np.outer(sin_theta, np.cos(phi)),
            np.outer(sin_theta, np.sin(phi)),
            np.outer(cos_theta, np.ones(n_phi)),
        ],
        axis=-1,
    ).reshape(-1, 3)
    weights = np.repeat(w_theta * (2 * np.pi / n_phi), n_phi)
    basis = spherical_harmonics(l, points) * weights[:, None]
    basis.setflags(write=False)
    points.setflags(write=False)
    return points, basis


def wigner_D(l, rotation):
    """Real Wigner D-matrix of order ``l``.

    ``D^l(R)`` is the orthogonal matrix with ``Y^l(R x) = D^l(R) Y^l(x)`` for the
    harmonics of :func:`keras_se3.so3.spherical_harmonics`; ``D^1(R) = R``.

    Args:
        l: non-negative integer order.
        rotation: a rotation matrix ``[3, 3]``, a batch ``[..., 3, 3]``, or a
            ``scipy.spatial.transform.Rotation``.

    Returns:
        float64 array ``[..., 2l + 1, 2l + 1]``.
    """
    l = check_order(l)
    matrix = as_matrix(rotation)
    if l == 0:
        return np.ones(matrix.shape[:-2] + (1, 1))
    if l == 1:
        return matrix.copy()
    # D_ab = <Y_a(R .), Y_b> on the sphere, computed with an exact quadrature.
    points, weighted_basis = _sphere_quadrature(l)
    rotated = np.einsum("...ij,qj->...qi", matrix, points)
    return np.einsum("...qa,qb->...ab", spherical_harmonics(l, rotated), weighted_basis)
