"""Real Clebsch-Gordan change of basis for ``D^j ⊗ D^l``."""

import functools

import numpy as np
from scipy.spatial.transform import Rotation

from keras_se3.so3.spherical_harmonics import check_order
from keras_se3.so3.wigner import wigner_D

# Two fixed generic rotations: together they generate a dense subgroup of SO(3),
# so an operator commuting with both commutes with every rotation.
_GENERIC_ROTATIONS = Rotation.from_euler(
    "ZYZ", [[0.4211, 1.1372, 2.4617], [2.0713, 0.6217, -1.3251]]
).as_matrix()


@functools.cache
def _change_of_basis_cached(j, l, J):
    dj, dl, dJ = 2 * j + 1, 2 * l + 1, 2 * J + 1
    gram = np.zeros((dj * dl * dJ,) * 2)
    for rotation in _GENERIC_ROTATIONS:
        a = np.kron(wigner_D(j, rotation), wigner_D(l, rotation))
        b = wigner_D(J, rotation)
        # Row-major vec: vec(A Q - Q B) = (A ⊗ I - I ⊗ B^T) vec(Q).
        block = np.kron(a, np.eye(dJ)) - np.kron(np.eye(dj * dl), b.T)
        gram += block.T @ block
    # The null space of the stacked constraints is the kernel of their Gram matrix
    # (symmetric, so eigh: much cheaper than an SVD of the stack).
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    if eigenvalues[0] > 1e-9 or (len(eigenvalues) > 1 and eigenvalues[1] < 1e-6):
        raise RuntimeError(
            f"Clebsch-Gordan null space for ({j}, {l}) -> {J} is not one-dimensional "
            f"(eigenvalues {eigenvalues[:2]}); this is a bug in keras_se3."
        )
    q = eigenvectors[:, 0].reshape(dj, dl, dJ)
    # Schur: Q^T Q is a multiple of the identity; make it the identity.
    q *= np.sqrt(dJ) / np.linalg.norm(q)
    # Fix the sign: the first clearly non-zero entry (in C order) is positive.
    flat = q.ravel()
    first = np.flatnonzero(np.abs(flat) > 0.1 * np.abs(flat).max())[0]
    if flat[first] < 0:
        q = -q
    q.setflags(write=False)
    return q


def change_of_basis(j, l, J):
    """The real Clebsch-Gordan coefficients ``Q^J`` coupling orders ``j`` and ``l``.

    Returns ``Q`` of shape ``[2j+1, 2l+1, 2J+1]`` with
    ``(D^j(R) ⊗ D^l(R)) Q = Q D^J(R)`` (``Q`` read as a
    ``[(2j+1)(2l+1), 2J+1]`` matrix, C order) and ``Q^T Q = I``.  Its sign is
    fixed (the first entry of magnitude above a tenth of the largest is
    positive), so it is the same on every run.

    Raises:
        ValueError: if ``J`` is not in ``|j - l| .. j + l``.
    """
    j, l, J = check_order(j), check_order(l), check_order(J)
    if not abs(j - l) <= J <= j + l:
        raise ValueError(
            f"D^{J} does not occur in D^{j} ⊗ D^{l}: J must be in "
            f"{abs(j - l)}..{j + l}."
        )
    return _change_of_basis_cached(j, l, J)
