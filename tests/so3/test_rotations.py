import numpy as np
import pytest

from keras_se3 import so3


def test_cube_rotations_are_the_24_signed_permutations():
    rotations = so3.cube_rotations()
    assert rotations.shape == (24, 3, 3)
    np.testing.assert_array_equal(rotations[0], np.eye(3))
    assert len({tuple(r.ravel()) for r in rotations}) == 24
    for r in rotations:
        assert set(np.abs(r).sum(axis=0)) == {1.0}
        assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_array_equal(rotations, so3.cube_rotations())


def test_random_rotation_is_seeded_and_proper():
    a, b = so3.random_rotation(3, seed=5), so3.random_rotation(3, seed=5)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.det(a), 1.0)


def test_rotation_about_axis_right_handed():
    r = so3.rotation_about_axis([0, 0, 1], np.pi / 2)
    np.testing.assert_allclose(r @ [1.0, 0, 0], [0, 1.0, 0], atol=1e-15)
    with pytest.raises(ValueError, match="non-zero"):
        so3.rotation_about_axis([0, 0, 0], 1.0)
