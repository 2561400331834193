"""protein_sse_pipeline on real chains: atoms and residue voxels stay aligned."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_se3.datasets import protein_sse_pipeline
from keras_se3.voxelize import voxelize_points_np


@pytest.fixture(scope="module")
def chains(tmp_path_factory):
    """The test split (8 chains), built from the installed MDAnalysisTests."""
    builder = tfds.builder("protein_sse", data_dir=tmp_path_factory.mktemp("tfds"))
    builder.download_and_prepare()
    return builder.as_dataset(split="test")


def _examples(chains, **options):
    options = {"batch_size": None, "as_dict": True, **options}
    return list(tfds.as_numpy(protein_sse_pipeline("test", dataset=chains, **options)))


def _raw(chains):
    return list(tfds.as_numpy(chains))


def test_whole_rotated_chains_match_the_numpy_voxelisation(chains):
    raw = _raw(chains)
    examples = _examples(chains, grid_size=65, rotate=True, shift=True)
    assert len(examples) == len(raw) == 8
    for chain, example in zip(raw[:3], examples[:3]):
        atoms = chain["atoms"]
        rotation, offset = example["rotation"], example["offset"]
        assert abs(np.linalg.det(rotation) - 1) < 1e-5
        np.testing.assert_allclose(
            example["centre"], atoms["position"].mean(0), rtol=1e-5
        )
        points = (atoms["position"] - example["centre"]) @ rotation.T + offset
        expected, dropped = voxelize_points_np(
            points,
            65,
            1.0,
            0.7,
            channels=np.minimum(atoms["element"], 3),
            num_channels=4,
            weights=(atoms["element"] < 4).astype("float32"),
        )
        assert example["voxels"].shape == (65, 65, 65, 4)
        np.testing.assert_allclose(example["voxels"], expected, atol=1e-5)
        assert example["num_dropped"] == dropped


def test_each_residue_voxel_holds_its_c_alpha(chains):
    """Under a random rotation and sub-voxel shift, the carbon density at each
    residue's voxel is that of an atom within half a voxel diagonal."""
    raw = _raw(chains)
    for options in ({}, {"rotate": True, "shift": True}):
        examples = _examples(chains, grid_size=85, **options)
        for chain, example in zip(raw, examples):
            count = chain["num_residues"]
            weights = example["weights"]
            assert weights.shape == (192,) and np.all(weights[count:] == 0)
            assert weights[:count].mean() == 1  # 85^3 holds every residue
            np.testing.assert_array_equal(
                example["labels"][:count], chain["residues"]["label"]
            )
            i, j, k = example["residue_voxels"][:count].T
            carbon = example["voxels"][i, j, k, 0]
            # A normalised Gaussian of sigma 0.7 A, at most sqrt(3)/2 voxel away.
            peak = 1 / (2 * np.pi * 0.7**2) ** 1.5
            assert carbon.min() > 0.2 * peak, (chain["pdb_id"], carbon.min() / peak)


def test_crops_centre_a_residue_and_weigh_only_residues_inside(chains):
    raw = _raw(chains)
    examples = _examples(chains, crop=True, grid_size=17)
    for chain, example in zip(raw, examples):
        ca = chain["residues"]["ca"]
        centre = np.argmin(np.abs(ca - example["centre"]).sum(-1))
        np.testing.assert_array_equal(ca[centre], example["centre"])
        assert tuple(example["residue_voxels"][centre]) == (8, 8, 8)
        inside = np.all(np.abs(ca - ca[centre]) < 8.5, axis=-1)
        np.testing.assert_array_equal(example["weights"][: len(ca)], inside)
        assert 0 < inside.sum() < len(ca)


def test_batches_for_fit_and_a_chain_too_long_is_a_clear_error(chains):
    batches = protein_sse_pipeline("test", dataset=chains, grid_size=9, batch_size=2)
    voxels, targets, weights = next(iter(batches))
    assert voxels.shape == (2, 9, 9, 9, 4) and targets.shape == (2, 192, 4)
    assert weights.shape == (2, 192) and targets.dtype == tf.int32
    example = _examples(chains, grid_size=9)[0]
    np.testing.assert_array_equal(targets[0, :, :3], example["residue_voxels"])
    np.testing.assert_array_equal(targets[0, :, 3], example["labels"])
    np.testing.assert_array_equal(weights[0], example["weights"])
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_residues=50"):
        next(iter(protein_sse_pipeline("test", dataset=chains, max_residues=50)))
