import numpy as np
import pytest
import tensorflow as tf

from keras_se3 import so3
from keras_se3.transforms import rotate_grid
from keras_se3.voxelize import (
    random_rotation_matrix,
    random_rotations,
    random_subvoxel_offsets,
    rotate_points,
    rotate_points_np,
    voxelize_points,
    voxelize_points_np,
)


def _cloud(rng, num=40, radius=3.0):
    return rng.uniform(-radius, radius, size=(num, 3))


@pytest.mark.parametrize("n", [9, 10])
def test_rotated_points_give_rotated_grid_for_cube_rotations(rng, n):
    points = _cloud(rng)
    channels = rng.integers(0, 2, size=len(points))
    weights = rng.uniform(0.5, 2.0, size=len(points))
    kwargs = dict(channels=channels, num_channels=2, weights=weights)
    grid, _ = voxelize_points_np(points, n, 0.7, 0.8, **kwargs)
    worst = 0.0
    for rotation in so3.cube_rotations():
        rotated, dropped = voxelize_points_np(
            rotate_points_np(points, rotation), n, 0.7, 0.8, **kwargs
        )
        assert dropped == 0
        expected = rotate_grid(grid[None], rotation)[0]
        worst = max(worst, np.abs(rotated - expected).max())
    assert worst < 1e-6 * grid.max()


def test_tf_rotation_matches_grid_rotation(rng):
    points = tf.constant(_cloud(rng), tf.float32)
    grid, _ = voxelize_points(points, 9, 0.7, 0.8)
    for rotation in so3.cube_rotations()[::5]:
        rotated, _ = voxelize_points(rotate_points(points, rotation), 9, 0.7, 0.8)
        expected = rotate_grid(grid.numpy()[None], rotation)[0]
        np.testing.assert_allclose(rotated.numpy(), expected, atol=1e-7)


def test_mass_is_conserved_and_outside_points_are_dropped_and_counted(rng):
    inside = _cloud(rng, 30, radius=2.4)  # the grid reaches 7 * 0.7 / 2 = 2.45
    outside = np.array([[3.0, 0, 0], [0, -2.5, 0], [0, 0, 10.0]])
    weights = rng.uniform(0.5, 2.0, size=33)
    channels = rng.integers(0, 3, size=33)
    points = np.concatenate([inside, outside])
    grid, dropped = voxelize_points_np(
        points, 7, 0.7, 0.5, weights=weights, channels=channels, num_channels=3
    )
    assert dropped == 3
    for c in range(3):
        expected = weights[:30][channels[:30] == c].sum()
        assert grid[..., c].sum() == pytest.approx(expected, rel=1e-5)
    # Dropped, not clipped: the outside points leave no trace on the border.
    only_inside, _ = voxelize_points_np(
        inside, 7, 0.7, 0.5, weights=weights[:30], channels=channels[:30],
        num_channels=3,
    )  # fmt: skip
    np.testing.assert_array_equal(grid, only_inside)
    tf_grid, tf_dropped = voxelize_points(
        points, 7, 0.7, 0.5, weights=weights, channels=channels, num_channels=3
    )
    assert int(tf_dropped) == 3
    np.testing.assert_allclose(tf_grid.numpy(), grid, atol=1e-6)


def test_grid_is_centred():
    grid, _ = voxelize_points_np(np.zeros((1, 3)), 7, 1.0, 0.6)
    assert np.unravel_index(grid[..., 0].argmax(), grid.shape[:3]) == (3, 3, 3)
    np.testing.assert_array_equal(grid, grid[::-1, ::-1, ::-1])
    # Even n: the origin is a voxel corner, shared by the 8 central voxels.
    grid, _ = voxelize_points_np(np.zeros((1, 3)), 6, 1.0, 0.6)
    central = grid[2:4, 2:4, 2:4, 0]
    np.testing.assert_allclose(central, central.max(), rtol=1e-6)
    assert central.max() == grid.max()
    # A point at +1 voxel along y lands one voxel up the second array axis.
    grid, _ = voxelize_points_np([[0.0, 2.0, 0.0]], 5, 2.0, 0.5)
    assert np.unravel_index(grid[..., 0].argmax(), grid.shape[:3]) == (2, 3, 2)


@pytest.mark.parametrize("normalize", [True, False])
def test_numpy_twin_matches_tf_inside_dataset_map(rng, normalize):
    clouds = [_cloud(rng, num) for num in (5, 17)]
    dataset = tf.data.Dataset.from_generator(
        lambda: iter(c.astype(np.float32) for c in clouds),
        output_signature=tf.TensorSpec([None, 3], tf.float32),
    ).map(lambda p: voxelize_points(p, 8, 1.1, 0.9, normalize=normalize))
    for cloud, (grid, dropped) in zip(clouds, dataset):
        expected, expected_dropped = voxelize_points_np(
            cloud, 8, 1.1, 0.9, normalize=normalize
        )
        np.testing.assert_allclose(grid.numpy(), expected, atol=1e-6)
        assert int(dropped) == expected_dropped


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match=r"\[P, 3\]"):
        voxelize_points_np(np.zeros((4, 2)), 5)
    with pytest.raises(ValueError, match="num_channels"):
        voxelize_points_np(np.zeros((2, 3)), 5, channels=[0, 1])
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        voxelize_points_np(np.zeros((2, 3)), 5, channels=[0, 2], num_channels=2)
    with pytest.raises(ValueError, match="sigma"):
        voxelize_points_np(np.zeros((2, 3)), 5, sigma=0)
    with pytest.raises(ValueError, match="grid_size"):
        voxelize_points(np.zeros((2, 3)), 0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_channels"):
        voxelize_points(np.zeros((2, 3)), 5, channels=[0, 2], num_channels=2)


def test_random_rotation_matrix_is_seeded_proper_and_haar():
    a = random_rotation_matrix(tf.constant([3, 4])).numpy()
    np.testing.assert_array_equal(a, random_rotation_matrix(tf.constant([3, 4])))
    np.testing.assert_allclose(a @ a.T, np.eye(3), atol=1e-6)
    assert np.linalg.det(a) == pytest.approx(1.0, abs=1e-6)
    sample = next(iter(random_rotations(seed=1).take(4000).batch(4000))).numpy()
    # Haar measure: E[R] = 0 and E[tr(R)^2] = 1.
    assert np.abs(sample.mean(axis=0)).max() < 0.05
    traces = np.trace(sample, axis1=1, axis2=2)
    assert np.mean(traces**2) == pytest.approx(1.0, abs=0.1)


def test_random_rotations_are_reproducible_per_seed_and_epoch():
    def first(ds):
        return np.stack([r.numpy() for r in ds.take(3)])

    np.testing.assert_array_equal(
        first(random_rotations(seed=7)), first(random_rotations(seed=7))
    )
    assert not np.allclose(first(random_rotations(7)), first(random_rotations(8)))
    epochs = random_rotations(seed=7).take(3).repeat(2)
    sample = np.stack([r.numpy() for r in epochs])
    assert not np.allclose(sample[:3], sample[3:])  # new rotations each epoch
    fixed = random_rotations(seed=7, rerandomize_each_iteration=False)
    sample = np.stack([r.numpy() for r in fixed.take(3).repeat(2)])
    np.testing.assert_array_equal(sample[:3], sample[3:])
    with pytest.raises(ValueError, match="seed"):
        random_rotations(seed=None)


def test_rotating_points_before_voxelising_is_exact_for_any_rotation(rng):
    # Rotating coordinates involves no grid: a rotation and its inverse give back
    # the original grid up to float rounding, for an arbitrary rotation.
    points = _cloud(rng)
    rotation = so3.random_rotation(seed=3)
    there = rotate_points_np(points, rotation)
    back = rotate_points_np(there, rotation.T)
    a, _ = voxelize_points_np(points, 9, 0.7, 0.8)
    b, _ = voxelize_points_np(back, 9, 0.7, 0.8)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_random_subvoxel_offsets_are_uniform_in_a_voxel_and_reproducible():
    from scipy import stats

    sample = next(iter(random_subvoxel_offsets(seed=2).take(6000).batch(6000)))
    sample = sample.numpy()
    assert sample.shape == (6000, 3)
    assert sample.min() >= -0.5 and sample.max() < 0.5
    # Each axis uniform on [-1/2, 1/2) (Kolmogorov-Smirnov), the axes uncorrelated.
    for axis in range(3):
        assert stats.kstest(sample[:, axis], "uniform", args=(-0.5, 1.0)).pvalue > 1e-3
    assert np.abs(np.corrcoef(sample.T) - np.eye(3)).max() < 0.05

    def first(ds):
        return np.stack([o.numpy() for o in ds.take(4)])

    np.testing.assert_array_equal(
        first(random_subvoxel_offsets(5)), first(random_subvoxel_offsets(5))
    )
    assert not np.allclose(
        first(random_subvoxel_offsets(5)), first(random_subvoxel_offsets(6))
    )
    epochs = np.stack([o.numpy() for o in random_subvoxel_offsets(5).take(4).repeat(2)])
    assert not np.allclose(epochs[:4], epochs[4:])  # new offsets each epoch
    # The same seed's rotations are not a function of its offsets: same seed,
    # unrelated draws (the pipelines use one seed for both).
    rotations = np.stack([r.numpy() for r in random_rotations(5).take(200)])
    offsets = np.stack([o.numpy() for o in random_subvoxel_offsets(5).take(200)])
    coupling = np.corrcoef(rotations.reshape(200, 9).T, offsets.T)[:9, 9:]
    assert np.abs(coupling).max() < 0.3
    with pytest.raises(ValueError, match="seed"):
        random_subvoxel_offsets(seed=None)
