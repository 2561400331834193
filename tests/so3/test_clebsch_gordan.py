import subprocess
import sys

import numpy as np
import pytest

from keras_se3 import so3

TRIPLES = [
    (j, l, J) for j in range(4) for l in range(4) for J in range(abs(j - l), j + l + 1)
]


@pytest.mark.parametrize("j, l, J", TRIPLES)
def test_intertwines_and_is_isometric(j, l, J):
    q = so3.change_of_basis(j, l, J)
    assert q.shape == (2 * j + 1, 2 * l + 1, 2 * J + 1)
    matrix = q.reshape(-1, 2 * J + 1)
    np.testing.assert_allclose(matrix.T @ matrix, np.eye(2 * J + 1), atol=1e-12)
    for rotation in so3.random_rotation(2, seed=j * 16 + l * 4 + J):
        left = np.kron(so3.wigner_D(j, rotation), so3.wigner_D(l, rotation)) @ matrix
        np.testing.assert_allclose(left, matrix @ so3.wigner_D(J, rotation), atol=1e-10)


def test_blocks_are_orthogonal_and_complete():
    j, l = 2, 1
    full = np.concatenate(
        [so3.change_of_basis(j, l, J).reshape(15, -1) for J in range(1, 4)], axis=1
    )
    np.testing.assert_allclose(full.T @ full, np.eye(15), atol=1e-12)


def test_sign_convention_is_fixed():
    q = so3.change_of_basis(1, 1, 0).ravel()
    # The invariant of two vectors is their dot product, with a positive sign.
    np.testing.assert_allclose(q, np.eye(3).ravel() / np.sqrt(3), atol=1e-12)
    flat = so3.change_of_basis(2, 3, 4).ravel()
    assert flat[np.flatnonzero(np.abs(flat) > 0.1 * np.abs(flat).max())[0]] > 0


def test_identical_in_a_fresh_process():
    code = (
        "import numpy as np, sys; from keras_se3 import so3;"
        "sys.stdout.buffer.write(so3.change_of_basis(3, 2, 3).tobytes())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    assert out.stdout == np.ascontiguousarray(so3.change_of_basis(3, 2, 3)).tobytes()


def test_rejects_impossible_coupling():
    with pytest.raises(ValueError, match="does not occur"):
        so3.change_of_basis(1, 1, 3)
