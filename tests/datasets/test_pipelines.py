import numpy as np
import pytest
import tensorflow as tf
from keras_se3.datasets.tetris import tetris_dataset_builder

from keras_se3.datasets import cath_pipeline, shrec17_pipeline, tetris_pipeline
from keras_se3.datasets.tetris_pieces import tetris_voxels
from keras_se3.transforms import resample_grid, rotate_grid
from keras_se3.voxelize import rotate_points_np, voxelize_points_np

from .conftest import tfds


def test_tfds_load_works_after_import(data_dir):
    cath = tfds.load("cath/10arch", split="train", data_dir=data_dir, download=False)
    example = next(iter(cath))
    assert example["positions"].shape[-1] == 3
    builder = tfds.builder("cath/10arch", data_dir=data_dir)
    names = builder.info.features["label"].names
    assert names == sorted(names, key=lambda s: tuple(map(int, s.split("."))))
    assert "3.30" in names and len(names) == 10
    shrec = tfds.load("shrec17/normal", split="test", data_dir=data_dir, download=False)
    assert {int(e["label"]) for e in shrec} == {-1}


def test_cath_pipeline_rotates_and_voxelises_exactly(data_dir):
    raw = tfds.load("cath/10arch", split="train", data_dir=data_dir, download=False)
    pipeline = cath_pipeline(
        "train", config="10arch", data_dir=data_dir, download=False, shuffle=False,
        batch_size=None, as_dict=True, grid_size=24,
    )  # fmt: skip
    offsets = []
    for example, out in zip(raw.take(3), pipeline):
        rotation = out["rotation"].numpy()
        assert not np.allclose(rotation, np.eye(3))
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-6)
        # Training examples also move by a sub-voxel offset (in voxels of 2 A).
        offset = out["offset"].numpy()
        assert np.all(np.abs(offset) <= 0.5)
        offsets.append(offset)
        positions = example["positions"].numpy()
        expected, dropped = voxelize_points_np(
            rotate_points_np(positions, rotation) + 2.0 * offset, 24, 2.0, 1.0
        )
        np.testing.assert_allclose(out["voxels"].numpy(), expected, atol=1e-5)
        assert int(out["num_dropped"]) == dropped == 0
        assert out["voxels"].numpy().sum() == pytest.approx(len(positions), rel=1e-5)
        assert out["label"] == example["label"]
    assert np.abs(np.array(offsets)).min() > 0  # every example shifted


def test_cath_pipeline_batches_for_fit_and_keeps_evaluation_unrotated(data_dir):
    voxels, labels = next(
        iter(cath_pipeline("validation", data_dir=data_dir, download=False,
                           batch_size=2, grid_size=20))
    )  # fmt: skip
    assert voxels.shape == (2, 20, 20, 20, 1) and voxels.dtype == tf.float32
    assert labels.shape == (2,)
    test = cath_pipeline(
        "test", data_dir=data_dir, download=False, batch_size=None, as_dict=True,
        grid_size=8,
    )  # fmt: skip
    out = next(iter(test))
    np.testing.assert_array_equal(out["rotation"], np.eye(3))
    np.testing.assert_array_equal(out["offset"], np.zeros(3))  # nor shifted


def test_shrec17_pipeline_centres_the_shapes(data_dir):
    raw = tfds.load("shrec17/normal", split="train", data_dir=data_dir, download=False)
    pipeline = shrec17_pipeline(
        "train", config="normal", data_dir=data_dir, download=False, shuffle=False,
        batch_size=None, as_dict=True, grid_size=16, voxel_size=2 / 16, sigma=2 / 16,
        shift=False,
    )  # fmt: skip
    centres = (np.arange(16) - 7.5) * 2 / 16
    for example, out in zip(raw, pipeline):
        points = example["points"].numpy()
        assert np.linalg.norm(points, axis=-1).max() <= 1 + 1e-6  # unit ball
        grid = out["voxels"].numpy()[..., 0]
        assert int(out["num_dropped"]) == 0
        assert grid.sum() == pytest.approx(len(points), rel=1e-5)
        # The grid's centre of mass is the rotated points' mean (the Gaussians are
        # normalised on the grid; the points stay far enough from the border).
        com = (
            np.array(
                [
                    np.einsum("ijk,i->", np.moveaxis(grid, a, 0), centres)
                    for a in range(3)
                ]
            )
            / grid.sum()
        )
        expected = rotate_points_np(points, out["rotation"].numpy()).mean(axis=0)
        np.testing.assert_allclose(com, expected, atol=0.02)


def test_tetris_pipeline(tmp_path):
    config = tetris_dataset_builder.TetrisConfig(
        name="pipeline_test", grid_size=8, block_size=1, num_test_rotations=1
    )
    builder = tfds.builder("tetris", config=config, data_dir=tmp_path)
    builder.download_and_prepare()
    train = tetris_pipeline("train", dataset=builder.as_dataset(split="train"))
    rot90 = builder.as_dataset(split="test_rot90")
    voxels, labels = next(iter(train))
    assert voxels.shape == (8, 8, 8, 8, 1)
    canonical = {int(label): grid for grid, label in zip(voxels.numpy(), labels)}
    for example in rot90.take(30):
        expected = rotate_grid(
            canonical[int(example["label"])][None], example["rotation"].numpy()
        )[0]
        np.testing.assert_array_equal(example["voxels"].numpy(), expected)
    # `test`: the canonical grid resampled (cubic spline) by the stored rotation,
    # as the paper's code does; `test_revoxelized`: the rotated geometry voxelised.
    names = builder.info.features["label"].names
    for split in ("test", "test_revoxelized"):
        for example in builder.as_dataset(split=split):
            label, rotation = int(example["label"]), example["rotation"].numpy()
            if split == "test":
                expected = resample_grid(canonical[label][None], rotation)[0]
            else:
                expected = tetris_voxels(
                    names[label], rotation, grid_size=8, block_size=1
                )[..., None]
            np.testing.assert_allclose(example["voxels"].numpy(), expected, atol=1e-6)


def test_shrec17_training_examples_get_the_same_sub_voxel_shifts(data_dir):
    raw = tfds.load("shrec17/normal", split="train", data_dir=data_dir, download=False)
    kwargs = dict(
        config="normal", data_dir=data_dir, download=False, shuffle=False,
        batch_size=None, as_dict=True, grid_size=20, voxel_size=0.125, sigma=0.125,
    )  # fmt: skip
    train = shrec17_pipeline("train", **kwargs)
    for example, out in zip(raw.take(2), train):
        offset, rotation = out["offset"].numpy(), out["rotation"].numpy()
        assert 0 < np.abs(offset).max() <= 0.5
        points = rotate_points_np(example["points"].numpy(), rotation)
        expected, _ = voxelize_points_np(points + 0.125 * offset, 20, 0.125, 0.125)
        np.testing.assert_allclose(out["voxels"].numpy(), expected, atol=1e-5)
    out = next(iter(shrec17_pipeline("validation", **kwargs)))
    np.testing.assert_array_equal(out["offset"], np.zeros(3))


def test_tetris_training_pieces_are_voxelised_afresh_at_sub_voxel_offsets():
    first = list(tetris_pipeline("train", config="coarse", seed=4).repeat(2))
    again = list(tetris_pipeline("train", config="coarse", seed=4).take(1))
    assert len(first) == 2  # one batch of the 8 pieces per epoch
    for voxels, labels in first:
        assert voxels.shape == (8, 13, 13, 13, 1) and voxels.dtype == tf.float32
        np.testing.assert_array_equal(labels, np.arange(8))
        # Partial volume: the faces cut voxels; each piece keeps its 4 cubes' volume.
        assert len(np.unique(voxels.numpy())) > 2
        np.testing.assert_allclose(voxels.numpy().sum(axis=(1, 2, 3, 4)), 32, atol=0.5)
    assert np.abs(first[0][0] - first[1][0]).max() > 0.1  # new offsets each epoch
    np.testing.assert_array_equal(first[0][0], again[0][0])  # a pure function of seed
    # Rotation augmentation without shifts: rotated pieces, the volume kept.
    rotated = tetris_pipeline("train", config="coarse", shift=False, rotate=True)
    volumes = next(iter(rotated))[0].numpy().sum(axis=(1, 2, 3, 4))
    np.testing.assert_allclose(volumes, 32, rtol=0.05)
    with pytest.raises(ValueError, match="fixed test set"):
        tetris_pipeline("test_revoxelized", config="coarse", shift=True)
    with pytest.raises(ValueError, match="Unknown tetris config"):
        tetris_pipeline("train", config="huge")
