import numpy as np
import pytest

import keras_se3
from keras_se3 import FieldType, so3, transforms
from keras_se3.transforms import resample_grid, rotate_grid


def test_exported_at_the_top_level():
    assert keras_se3.rotate_grid is rotate_grid
    assert keras_se3.resample_grid is resample_grid
    assert keras_se3.transforms is transforms


def test_rotate_grid_moves_points_and_vectors():
    grid = np.zeros((1, 5, 5, 5, 4))
    grid[0, 3, 2, 2, :] = [1.0, 1.0, 0.0, 0.0]  # scalar 1 and vector +x at x = +1
    quarter_z = so3.rotation_about_axis([0, 0, 1], np.pi / 2)
    out = rotate_grid(grid, quarter_z, "1x0 + 1x1")
    # Both the point and the vector go from +x to +y.
    np.testing.assert_allclose(out[0, 2, 3, 2], [1.0, 0.0, 1.0, 0.0], atol=1e-12)
    assert np.count_nonzero(out) == 2


def test_rotate_grid_is_an_action():
    rng = np.random.default_rng(0)
    ft = FieldType("1x0 + 1x1 + 1x2")
    grid = rng.normal(size=(2, 4, 4, 4, ft.dim))
    r = so3.cube_rotations()
    once = rotate_grid(rotate_grid(grid, r[5], ft), r[7], ft)
    np.testing.assert_allclose(once, rotate_grid(grid, r[7] @ r[5], ft), atol=1e-12)


def test_rotate_grid_reflects_scalars_vectors_and_pseudo_vectors():
    # A vector and a pseudo-vector at x = +1, both pointing along +x and +y.
    grid = np.zeros((1, 3, 3, 3, 6))
    grid[0, 2, 1, 1] = [1.0, 2.0, 0.0, 1.0, 2.0, 0.0]
    mirror_x = np.diag([-1.0, 1.0, 1.0])
    out = rotate_grid(grid, mirror_x, "1x1o + 1x1e")
    assert np.argwhere(np.abs(out[0]).sum(-1) > 0).tolist() == [[0, 1, 1]]
    # The vector's x flips (g v); the pseudo-vector's y and z flip (det(g) g v).
    np.testing.assert_array_equal(out[0, 0, 1, 1], [-1.0, 2.0, 0.0, 1.0, -2.0, 0.0])
    # Scalars move and keep their values; the 48 symmetries compose exactly.
    scalars = np.random.default_rng(0).normal(size=(1, 4, 4, 4, 2))
    g = so3.cube_symmetries()
    assert len(g) == 48 and np.allclose(np.linalg.det(g[24:]), -1)
    twice = rotate_grid(rotate_grid(scalars, g[30]), g[40])
    np.testing.assert_array_equal(twice, rotate_grid(scalars, g[40] @ g[30]))


def test_rotate_grid_keeps_the_dtype():
    grid = np.ones((1, 3, 3, 3, 3), dtype=np.float32)
    assert rotate_grid(grid, so3.cube_rotations()[3], "1x1").dtype == np.float32


def test_rotate_grid_errors():
    with pytest.raises(ValueError, match="cube's symmetries only"):
        rotate_grid(np.zeros((1, 4, 4, 4, 1)), so3.random_rotation(seed=0))
    mirror = np.diag([-1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="SO\\(3\\) type: it has no representation"):
        rotate_grid(np.zeros((1, 4, 4, 4, 3)), mirror, "1x1")
    with pytest.raises(ValueError, match="cubic grid"):
        rotate_grid(np.zeros((1, 4, 4, 5, 1)), np.eye(3))
    with pytest.raises(ValueError, match="has 3 channels but the grid has 2"):
        rotate_grid(np.zeros((1, 4, 4, 4, 2)), np.eye(3), "1x1")
    with pytest.raises(
        ValueError, match=r"rotate_grid expects a \[batch, X, Y, Z, C\]"
    ):
        rotate_grid(np.zeros((4, 4, 4, 1)), np.eye(3))


def test_resample_grid_equals_rotate_grid_on_cube_rotations():
    # A cube rotation samples the spline at the grid nodes, where it interpolates.
    rng = np.random.default_rng(1)
    ft = FieldType("1x0 + 1x1 + 1x2")
    grid = rng.normal(size=(2, 5, 5, 5, ft.dim))
    for r in so3.cube_rotations()[[1, 9, 17]]:
        np.testing.assert_allclose(
            resample_grid(grid, r, ft), rotate_grid(grid, r, ft), atol=1e-9
        )


def test_resample_grid_leaves_an_invariant_vector_field_unchanged():
    # f(x) = x exp(-|x|^2 / 8) satisfies R f(R^-1 x) = f(x) for every rotation R:
    # only the right spatial map combined with D(R) (not its transpose) keeps it.
    n = 15
    c = np.arange(n) - (n - 1) / 2
    x = np.stack(np.meshgrid(c, c, c, indexing="ij"), axis=-1)
    field = (x * np.exp(-np.sum(x * x, -1, keepdims=True) / 8.0))[None]
    rotation = so3.random_rotation(seed=4)
    out = resample_grid(field, rotation, "1x1")
    inside = np.linalg.norm(x, axis=-1) <= (n - 1) / 2
    error = np.abs(out[0][inside] - field[0][inside]).max()
    assert error < 0.02 * np.abs(field).max()
    # Without the channel action (all scalars) the vectors point the wrong way.
    scalars = resample_grid(field, rotation)
    assert (
        np.abs(scalars[0][inside] - field[0][inside]).max() > 0.3 * np.abs(field).max()
    )


def test_resample_grid_errors():
    with pytest.raises(ValueError, match="Not a rotation matrix"):
        resample_grid(np.zeros((1, 4, 4, 4, 1)), np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(ValueError, match="has 3 channels but the grid has 1"):
        resample_grid(np.zeros((1, 4, 4, 4, 1)), np.eye(3), "1x1")
    with pytest.raises(
        ValueError, match=r"resample_grid expects a \[batch, X, Y, Z, C\]"
    ):
        resample_grid(np.zeros((4, 4, 4)), np.eye(3))
