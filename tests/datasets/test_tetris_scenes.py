"""The tetris_scenes builder's data: classes, centroid offsets, pairing, placement.

One tiny config (21^3, 2-voxel cubes, 2-3 pieces, 4 scenes per split) is built
once through TFDS; the checks read it back as users do.
"""

import numpy as np
import pytest
import tensorflow_datasets as tfds
from keras_se3.datasets.tetris_scenes import tetris_scenes_dataset_builder as scenes

from keras_se3.datasets.tetris_pieces import TETRIS_NAMES, piece_radius

N, BLOCK = 21, 2
TINY = scenes.TetrisScenesConfig(
    name="tiny_checks",
    grid_size=N,
    block_size=BLOCK,
    max_pieces=3,
    num_train=4,
    num_test=4,
    seed=1,
)
SPLITS = ("train", "test", "test_canonical")
INDEX = np.stack(np.meshgrid(*[np.arange(N)] * 3, indexing="ij"), axis=-1)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    builder = scenes.Builder(config=TINY, data_dir=tmp_path_factory.mktemp("tfds"))
    builder.download_and_prepare()
    return builder


@pytest.fixture(scope="module")
def data(built):
    """``{split: [example dict of numpy arrays]}``, in the stored order."""
    return {
        split: list(tfds.as_numpy(built.as_dataset(split=split))) for split in SPLITS
    }


def _pieces(example):
    k = int(example["num_pieces"])
    return example["labels"][:k], example["centres"][:k], example["rotations"][:k]


def _each_piece(data, splits=SPLITS):
    for split in splits:
        for example in data[split]:
            labels, centres, rotations = _pieces(example)
            for label, centre, rotation in zip(labels, centres, rotations):
                yield split, example, int(label), centre, rotation


def test_features_metadata_and_supervised_keys(built, data):
    assert built.info.metadata["segmentation_names"] == ["background", *TETRIS_NAMES]
    example = data["train"][0]
    assert example["voxels"].shape == (N, N, N, 1)
    assert example["segmentation"].shape == (N, N, N)
    assert example["centroid_offset"].shape == (N, N, N, 3)
    assert example["labels"].shape == (3,) and example["rotations"].shape == (3, 3, 3)
    for split in SPLITS:
        for example in data[split]:
            k = int(example["num_pieces"])
            assert TINY.min_pieces <= k <= TINY.max_pieces
            np.testing.assert_array_equal(example["labels"][k:], -1)  # padding
            assert len(set(example["labels"][:k])) == k  # distinct pieces
            assert 0 <= example["voxels"].min() and example["voxels"].max() <= 1
    x, y = next(iter(built.as_dataset(split="test", as_supervised=True)))
    assert x.shape == (N, N, N, 1)
    assert set(y) == {"segmentation", "centroid_offset"}


def test_segmentation_classes_are_the_pieces_and_background(data):
    for split in SPLITS:
        for example in data[split]:
            labels, _, _ = _pieces(example)
            present = set(np.unique(example["segmentation"]).tolist())
            assert present == {0, *(labels + 1).tolist()}, split


def test_canonical_class_counts_are_close_to_the_piece_volume(data):
    # Thresholding at half a voxel moves the count by at most the number of
    # partly covered voxels; a voxel cut by two faces of a sub-voxel-shifted cube
    # can hold less than half, so the count stays at or under 4 b^3 (measured
    # over 120 pieces at b = 2: 63-100 %).
    volume = 4 * BLOCK**3
    for _, example, label, centre, _ in _each_piece(data, ("train", "test_canonical")):
        count = (example["segmentation"] == label + 1).sum()
        near = (
            np.linalg.norm(INDEX - centre, axis=-1)
            <= piece_radius(TETRIS_NAMES[label], BLOCK) + np.sqrt(3) / 2
        )
        values = example["voxels"][..., 0][near]
        partial = ((values > 0) & (values < 1)).sum()
        assert values.sum() == pytest.approx(volume, abs=1e-3)  # faces stay straight
        assert abs(count - volume) <= partial
        assert 0.6 * volume <= count <= volume


def test_centroid_offsets_point_to_the_piece_centres(data):
    for split in SPLITS:
        for example in data[split]:
            segmentation, offsets = example["segmentation"], example["centroid_offset"]
            np.testing.assert_array_equal(offsets[segmentation == 0], 0.0)
            for label, centre, _ in zip(*_pieces(example)):
                mine = segmentation == label + 1
                pointed = INDEX[mine] + offsets[mine].astype(np.float64)
                np.testing.assert_allclose(
                    pointed, np.broadcast_to(centre, pointed.shape), rtol=0, atol=1e-5
                )


def test_test_is_test_canonical_with_each_piece_rotated_about_its_centroid(data):
    assert len(data["test"]) == len(data["test_canonical"]) == TINY.num_test
    for rotated, canonical in zip(data["test"], data["test_canonical"]):
        assert rotated["scene_index"] == canonical["scene_index"]
        np.testing.assert_array_equal(rotated["labels"], canonical["labels"])
        np.testing.assert_array_equal(rotated["centres"], canonical["centres"])
        labels, centres, rotations = _pieces(rotated)
        np.testing.assert_array_equal(_pieces(canonical)[2], [np.eye(3)] * len(labels))
        # Haar rotations: proper, and not the identity.
        np.testing.assert_allclose(np.linalg.det(rotations), 1, atol=1e-5)
        assert np.all(np.abs(rotations - np.eye(3)).max(axis=(1, 2)) > 1e-3)
        assert not np.array_equal(rotated["voxels"], canonical["voxels"])
        distance = np.linalg.norm(INDEX[..., None, :] - centres, axis=-1)
        nearest = np.argmin(distance, axis=-1)
        for i in range(len(labels)):
            masses = [
                example["voxels"][..., 0] * (nearest == i)
                for example in (rotated, canonical)
            ]
            # Partial volume keeps the rotated piece's volume to a few %...
            assert masses[0].sum() == pytest.approx(masses[1].sum(), rel=0.04)
            # ...and its mass centre where it was: turned about its centroid (to
            # the sub-voxel lattice's resolution, which rounds a face's position
            # to 1/s voxel; turned about the box centre it could move 1.7).
            for mass in masses:
                com = np.einsum("xyz,xyzc->c", mass, INDEX) / mass.sum()
                atol = 0.5 / TINY.supersampling + 1e-6
                np.testing.assert_allclose(com, centres[i], atol=atol)


def test_pieces_do_not_overlap_in_any_orientation_and_stay_inside(data):
    for split in SPLITS:
        for example in data[split]:
            labels, centres, _ = _pieces(example)
            radii = np.array(
                [piece_radius(TETRIS_NAMES[i], BLOCK) + scenes.MARGIN for i in labels]
            )
            # The bounding spheres (margin included) are apart and inside the grid.
            gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
            apart = gaps >= radii[:, None] + radii[None] - 1e-6
            assert np.all(apart | np.eye(len(labels), dtype=bool))
            assert np.all(centres - radii[:, None] >= -0.5 - 1e-6)
            assert np.all(centres + radii[:, None] <= N - 0.5 + 1e-6)
            # Every voxel with mass lies within reach of exactly one piece.
            reach = radii - scenes.MARGIN + np.sqrt(3) / 2
            filled = example["voxels"][..., 0] > 0
            within = np.linalg.norm(INDEX[filled][:, None] - centres, axis=-1) <= reach
            np.testing.assert_array_equal(within.sum(axis=1), 1)


def test_splits_are_reproducible_and_differ():
    def layouts(stream):
        return scenes.scene_layouts(TINY, 3, [TINY.seed, stream])

    for again, first in zip(layouts(0), layouts(0)):
        for a, b in zip(again, first):
            np.testing.assert_array_equal(a, b)
    centres = [np.concatenate([x[1] for x in layouts(s)]) for s in (0, 1)]
    assert centres[0].shape != centres[1].shape or np.all(centres[0] != centres[1])


def test_bad_configs_raise_errors_that_name_the_values_to_change():
    def config(**kwargs):
        return scenes.TetrisScenesConfig(name="bad", **kwargs)

    # The line of 3-voxel cubes needs a sphere 2 (6.36 + 1) = 14.7 voxels across.
    scenes.check_config(config(grid_size=15, block_size=3))
    with pytest.raises(ValueError, match="'line'.* grid_size of at least 15"):
        scenes.check_config(config(grid_size=14, block_size=3))
    with pytest.raises(ValueError, match="max_pieces <= 8"):
        scenes.check_config(config(max_pieces=9))
    with pytest.raises(ValueError, match="min_pieces <= max_pieces"):
        scenes.check_config(config(min_pieces=3, max_pieces=2))
    # Each piece fits a 9^3 grid alone, never two of them.
    crowded = config(grid_size=9, block_size=1, min_pieces=2, max_pieces=2)
    with pytest.raises(ValueError, match="larger grid_size, or a smaller max_pieces"):
        scenes.scene_layouts(crowded, 1, 0)
