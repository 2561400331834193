"""examples/segmentation.py: its scores, its rotation augmentation, its loss, its
export step on a small U-Net, and one end-to-end run (train, score, figure) on the
small scenes."""

import json

import keras
import numpy as np
import pytest

from keras_se3.so3 import cube_rotations
from keras_se3.transforms import rotate_grid

from .scripts import load_example, run_script

segmentation = load_example("segmentation")
N = segmentation.NUM_CLASSES


def _scene(size=7):
    """Targets ``[n, n, n, 4]`` of one piece (class 3) around the grid centre."""
    targets = np.zeros((size, size, size, 4), "float32")
    centre = (size - 1) / 2
    index = np.stack(np.meshgrid(*[np.arange(size)] * 3, indexing="ij"), -1)
    piece = np.zeros((size, size, size), bool)
    piece[2:5, 2:5, 1:6] = True
    targets[piece, 0] = 3
    targets[piece, 1:] = centre - index[piece]
    return targets


def test_scores_of_a_perfect_and_of_a_shifted_prediction():
    targets = _scene()[None]
    classes, vectors = targets[..., 0].astype(int), targets[..., 1:]
    perfect = segmentation.scores(classes, vectors, targets)
    assert perfect["dice"] == {"background": 1.0, "square": 1.0}
    assert perfect["mean_iou"] == 1.0
    assert perfect["vector_angle_deg"] == 0.0
    assert perfect["vector_length_error"] == 0.0
    # Half the piece called background, and every vector turned by 90 degrees
    # (x, y) -> (-y, x) and doubled: Dice 2|P & T| / (|P| + |T|) = 2 * 0.5 / 1.5.
    wrong = classes.copy()
    wrong[:, :, :, 1:3] = 0
    turned = np.stack([-vectors[..., 1], vectors[..., 0], 0 * vectors[..., 2]], -1)
    scored = segmentation.scores(wrong, 2 * turned, targets)
    kept = np.sum(wrong == 3) / np.sum(classes == 3)
    assert scored["dice"]["square"] == pytest.approx(2 * kept / (1 + kept))
    assert 0 < scored["vector_angle_deg"] <= 90.0
    assert scored["vector_length_error"] > 0


@pytest.mark.parametrize("index", [1, 5, 17])
def test_rotated_targets_of_a_cube_rotation_are_exact(index):
    # Resampling is exact on cube rotations: the classes move with the grid and
    # the vectors also turn, as rotate_grid does for a 1x1 field.
    rotation = cube_rotations()[index]
    targets = _scene()
    rotated = segmentation.rotate_targets(targets, rotation)
    expected_classes = rotate_grid(targets[None, ..., :1], rotation)[0, ..., 0]
    expected_vectors = rotate_grid(targets[None, ..., 1:], rotation, "1x1")[0]
    np.testing.assert_array_equal(rotated[..., 0], expected_classes)
    np.testing.assert_allclose(rotated[..., 1:], expected_vectors, atol=1e-5)


def test_loss_counts_vectors_on_the_foreground_only():
    targets = _scene()[None]
    logits = np.zeros(targets.shape[:-1] + (N,), "float32")
    exact = np.concatenate([logits, targets[..., 1:]], -1)
    loss = segmentation.SegmentationLoss()
    base = float(loss(targets, exact))
    assert base == pytest.approx(np.log(N), rel=1e-5)  # uniform logits
    background_only = exact.copy()
    background_only[..., N:][targets[..., 0] == 0] = 5.0
    assert float(loss(targets, background_only)) == pytest.approx(base, rel=1e-6)
    off = exact.copy()
    off[..., N][targets[..., 0] > 0] += 4.0  # one vector_scale along x
    assert float(loss(targets, off)) == pytest.approx(base + 1.0, rel=1e-5)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert restored.foreground_weight == loss.foreground_weight


@pytest.mark.slow
def test_export_writes_checked_collapsed_onnx_and_saved_model_files(tmp_path):
    # What --export runs, on a small U-Net (the end-to-end run below skips it:
    # its 16 s of conversions are the same code on a larger net).
    from keras_se3.models import se3_unet

    keras.utils.set_random_seed(0)
    net = se3_unet(
        "1x0", segmentation.OUT_FIELDS, levels=1, hidden_fields=["4x0 + 2x1"] * 2
    )
    sample = np.random.default_rng(0).random((2, 9, 9, 9, 1)).astype("float32")
    errors = segmentation.export(net, tmp_path, sample)
    assert max(errors["collapse"], errors["onnx"], errors["saved_model"]) < 1e-4
    for name in ("collapsed.keras", "model.onnx", "saved_model"):
        assert (tmp_path / name).exists(), name


@pytest.mark.slow
def test_trains_scores_and_plots(tmp_path):
    out = tmp_path / "out"
    result, log = run_script(
        "segmentation.py",
        "--dataset-config", "small", "--data-dir", tmp_path / "tfds",
        "--steps", 2, "--batch-size", 2, "--train-scenes", 4, "--test-scenes", 2,
        "--no-cnn", "--plots", out, "--json", out / "results.json",
        "--verbose", 0,
    )  # fmt: skip
    assert result.returncode == 0, log
    assert "| se3_unet | test | " in result.stdout, log
    results = json.loads((out / "results.json").read_text())["results"]["se3_unet"]
    for split in ("test", "test_canonical"):
        scores = results[split]
        assert 0.0 <= scores["mean_iou"] <= 1.0
        assert set(scores["dice"]) <= set(segmentation.CLASS_NAMES)
        assert 0.0 <= scores["vector_angle_deg"] <= 180.0
    assert (out / "segmentation_slice.png").is_file()
