import numpy as np
import pytest

from keras_se3 import FieldType, so3


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


def test_rotate_grid_moves_points_and_vectors():
    grid = np.zeros((1, 5, 5, 5, 4))
    grid[0, 3, 2, 2, :] = [1.0, 1.0, 0.0, 0.0]  # scalar 1 and vector +x at x = +1
    quarter_z = so3.rotation_about_axis([0, 0, 1], np.pi / 2)
    out = so3.rotate_grid(grid, quarter_z, "1x0 + 1x1")
    # Both the point and the vector go from +x to +y.
    np.testing.assert_allclose(out[0, 2, 3, 2], [1.0, 0.0, 1.0, 0.0], atol=1e-12)
    assert np.count_nonzero(out) == 2


def test_rotate_grid_is_an_action():
    rng = np.random.default_rng(0)
    ft = FieldType("1x0 + 1x1 + 1x2")
    grid = rng.normal(size=(2, 4, 4, 4, ft.dim))
    r = so3.cube_rotations()
    once = so3.rotate_grid(so3.rotate_grid(grid, r[5], ft), r[7], ft)
    np.testing.assert_allclose(once, so3.rotate_grid(grid, r[7] @ r[5], ft), atol=1e-12)


def test_rotate_grid_errors():
    with pytest.raises(ValueError, match="cube rotations"):
        so3.rotate_grid(np.zeros((1, 4, 4, 4, 1)), so3.random_rotation(seed=0))
    with pytest.raises(ValueError, match="cubic grid"):
        so3.rotate_grid(np.zeros((1, 4, 4, 5, 1)), np.eye(3))
    with pytest.raises(ValueError, match="channels"):
        so3.rotate_grid(np.zeros((1, 4, 4, 4, 2)), np.eye(3), "1x1")
