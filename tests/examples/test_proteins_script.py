"""examples/proteins.py: the per-residue readout and loss, the scores, exactness of
the per-residue outputs under the cube rotations, and one end-to-end run (train,
score on deposited and rotated chains, figure) on real chains."""

import json

import keras
import numpy as np
import pytest

from keras_se3.models import se3_unet
from keras_se3.so3 import cube_rotations
from keras_se3.voxelize import voxelize_points_np
from tests.backend import to_numpy

from .scripts import load_example, run_script

proteins = load_example("proteins")


def _targets(rng, count, n):
    index = rng.integers(0, n, size=(2, count, 3))
    labels = rng.integers(0, 3, size=(2, count, 1))
    return np.concatenate([index, labels], -1).astype("int32")


def test_residue_logits_read_the_voxels_of_the_residues(rng):
    out = rng.normal(size=(2, 5, 5, 5, 3)).astype("float32")
    targets = _targets(rng, 7, 5)
    read = to_numpy(proteins.residue_logits(out, targets))
    for b in range(2):
        i, j, k = targets[b, :, :3].T
        np.testing.assert_array_equal(read[b], out[b, i, j, k])


def test_the_loss_is_the_cross_entropy_at_the_residues_and_weights_mask(rng):
    out = rng.normal(size=(2, 5, 5, 5, 3)).astype("float32")
    targets = _targets(rng, 7, 5)
    logits = to_numpy(proteins.residue_logits(out, targets))
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    ce = -np.take_along_axis(log_p, targets[..., 3:], -1)[..., 0]
    loss = proteins.ResidueLoss()
    assert float(loss(targets, out)) == pytest.approx(ce.mean(), rel=1e-5)
    weights = np.zeros((2, 7), "float32")
    weights[:, :3] = 1.0  # padding and residues outside the crop weigh 0
    expected = (ce * weights).sum() / weights.size  # Keras: mean over all entries
    assert float(loss(targets, out, sample_weight=weights)) == pytest.approx(
        expected, rel=1e-5
    )
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, proteins.ResidueLoss)


def test_scores_q3_and_f1():
    labels = np.array([0, 0, 1, 2, 2, 2])
    perfect = proteins.scores(labels, labels)
    assert perfect["q3"] == 1.0 and set(perfect["f1"].values()) == {1.0}
    # Strand called coil: Q3 5/6; F1 strand 0, F1 coil 2*3/(4+3).
    wrong = np.array([0, 0, 2, 2, 2, 2])
    scored = proteins.scores(wrong, labels)
    assert scored["q3"] == pytest.approx(5 / 6)
    assert scored["f1"] == pytest.approx({"helix": 1.0, "strand": 0.0, "coil": 6 / 7})


def test_per_residue_outputs_are_exact_under_the_cube_rotations():
    """A chain's atoms voxelised at the deposited orientation and at each cube
    rotation about the grid centre: every residue's logits are the same."""
    from keras_se3.datasets.protein_sse import protein_sse_dataset_builder as psse

    chain = psse.read_chain(psse.data_directory(), "1ahsA")
    atoms, ca = chain["atoms"], chain["residues"]["ca"]
    centre = ca[len(ca) // 2] + 0.3  # off the atoms: no rounding ties below
    n = 13
    elements = np.asarray([psse.ELEMENT_NAMES.index(e) for e in atoms["element"]])
    keras.utils.set_random_seed(0)
    net = se3_unet("4x0", "3x0", levels=1, hidden_fields=["4x0 + 2x1 + 1x2"] * 2)
    logits = []
    for rotation in cube_rotations():
        points = (atoms["position"] - centre) @ rotation.T
        voxels, _ = voxelize_points_np(
            points, n, 1.0, 0.7, channels=np.minimum(elements, 3), num_channels=4
        )
        index = np.round((ca - centre) @ rotation.T + (n - 1) / 2).astype("int32")
        inside = np.all((index >= 0) & (index < n), -1)
        index[~inside] = 0  # as the pipeline does; read but not compared
        targets = np.concatenate([index, np.zeros_like(index[:, :1])], -1)
        out = net(voxels[None].astype("float32"), training=False)
        read = to_numpy(proteins.residue_logits(out, targets[None]))[0]
        logits.append(read[inside])
    assert 5 < len(logits[0]) < len(ca)  # a crop: some residues in, some out
    scale = np.abs(logits[0]).max()
    for read in logits[1:]:
        assert np.abs(read - logits[0]).max() <= 1e-5 * scale


@pytest.mark.slow
def test_trains_scores_and_plots(tmp_path):
    # --export runs examples/segmentation.py's export step, tested there.
    out = tmp_path / "out"
    result, log = run_script(
        "proteins.py",
        "--data-dir", tmp_path / "tfds", "--steps", 2, "--batch-size", 2,
        "--crop", 9, "--levels", 1, "--eval-grid", 17, "--test-rotations", 1,
        "--test-chains", 2, "--no-cnn", "--plots", out,
        "--json", out / "results.json", "--verbose", 0,
    )  # fmt: skip
    assert result.returncode == 0, log
    assert "| se3_unet | rotated | " in result.stdout, log
    results = json.loads((out / "results.json").read_text())["results"]["se3_unet"]
    for orientation in ("deposited", "rotated"):
        scores = results[orientation]
        assert 0.0 <= scores["q3"] <= 1.0 and scores["residues"] > 0
        assert set(scores["f1"]) == set(proteins.CLASS_NAMES)
    assert (out / "proteins_slice.png").is_file()
