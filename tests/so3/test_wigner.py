import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from keras_se3 import so3


@pytest.mark.parametrize("l", range(11))
def test_homomorphism_and_orthogonality(l):
    r1, r2 = so3.random_rotation(2, seed=10 + l)
    d1, d2 = so3.wigner_D(l, r1), so3.wigner_D(l, r2)
    np.testing.assert_allclose(so3.wigner_D(l, r1 @ r2), d1 @ d2, atol=1e-10)
    np.testing.assert_allclose(d1 @ d1.T, np.eye(2 * l + 1), atol=1e-10)
    np.testing.assert_allclose(
        so3.wigner_D(l, np.eye(3)), np.eye(2 * l + 1), atol=1e-12
    )
    assert np.linalg.det(d1) == pytest.approx(1.0, abs=1e-10)


def test_order_one_is_the_rotation_matrix():
    r = so3.random_rotation(seed=0)
    np.testing.assert_array_equal(so3.wigner_D(1, r), r)


def test_batches_and_scipy_rotations():
    rotations = Rotation.random(4, random_state=2)
    batch = so3.wigner_D(3, rotations)
    assert batch.shape == (4, 7, 7)
    np.testing.assert_allclose(
        batch[2], so3.wigner_D(3, rotations[2].as_matrix()), atol=1e-14
    )


def test_batch_of_high_order_matrices_matches_one_by_one():
    rotations = so3.random_rotation(5, seed=0)
    batch = so3.wigner_D(10, rotations)
    for rotation, matrix in zip(rotations, batch):
        np.testing.assert_allclose(matrix, so3.wigner_D(10, rotation), atol=1e-13)


def test_rejects_non_rotations():
    with pytest.raises(ValueError, match="determinant"):
        so3.wigner_D(2, np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(ValueError, match=r"\[\.\.\., 3, 3\]"):
        so3.wigner_D(2, np.eye(2))
