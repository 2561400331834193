"""End-to-end runs of examples/cath.py and examples/shrec17.py on the dummy data.

Each script runs as a subprocess for one step of one epoch on small grids, with the
real networks, and must exit 0 with its checkpoints, its saved model and a final
accuracy in its summary (the nets' exports are tested in tests/export, the
scripts' export step in tests/training/test_multiworker.py).  The CATH run also covers
mixed precision (bfloat16 on CPU), the SHREC17 runs the mirrored strategy on 2
logical CPU devices and a run that resumes from its backup.
"""

import json
import re

import keras
import numpy as np
import pytest

from keras_se3.datasets import cath_pipeline, shrec17_pipeline

from ..datasets.conftest import dummy_dir, tfds
from .scripts import run_script as run

QUICK = ["--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A TFDS data_dir with cath/10arch and shrec17/normal built from dummy data."""
    root = tmp_path_factory.mktemp("tfds")
    for name, manual in (("cath/10arch", "cath"), ("shrec17/normal", "shrec17")):
        tfds.builder(name, data_dir=root).download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=dummy_dir(manual))
        )
    return root


def accuracy_bounds(model_path, batches, margin):
    """The accuracy of the saved model on ``batches``, computed here.

    Examples whose two largest logits are within ``margin`` times the largest
    logit magnitude of the example count as undecided: another dtype (the script's
    bfloat16) may rank them the other way.

    Returns:
        ``(lowest, highest)``: the accuracy if all undecided examples are wrong,
        and if all are right (equal when none is undecided).
    """
    model = keras.saving.load_model(model_path)
    right = undecided = total = 0
    for x, y in batches:
        logits = np.asarray(model(x, training=False), dtype="float64")
        top = np.sort(logits, axis=-1)
        close = top[:, -1] - top[:, -2] <= margin * np.abs(logits).max(-1)
        hit = logits.argmax(-1) == np.asarray(y)
        right += int(np.sum(hit & ~close))
        undecided += int(np.sum(close))
        total += len(hit)
    return right / total, (right + undecided) / total


def check_outputs(out, log, split, batches, num_examples, margin=0.0, exported=True):
    names = ("best.keras", "model.keras") + ("collapsed.keras", "model.onnx") * exported
    for name in names:
        assert (out / name).is_file(), f"{name} missing\n{log}"
    assert (out / "backup" / "training_metadata.json").is_file(), log
    assert (out / "history.csv").is_file(), log
    summary = json.loads((out / "summary.json").read_text())
    assert summary[f"{split}_examples"] == num_examples
    # The reported accuracy is that of the trained weights (model.keras: float32)
    # on the whole split, recomputed here from the saved model.
    low, high = accuracy_bounds(out / "model.keras", batches, margin)
    assert low <= summary[f"{split}_accuracy"] <= high, (low, high, log)
    if exported:
        assert summary["export_errors"]["onnx"] < 1e-3
    else:
        assert "collapsed.keras" not in {p.name for p in out.iterdir()}
    return summary


@pytest.mark.slow
def test_cath_end_to_end_mixed_precision(data_dir, tmp_path):
    out = tmp_path / "cath"
    result, log = run(
        "cath.py",
        "--data-dir", data_dir, "--output-dir", out, *QUICK,
        # 24^3: stage 4 works on 3^3 maps.  On 2^3 maps (a 16^3 grid) TensorFlow's
        # bfloat16 Conv3D weight gradient on CPU is garbage, sometimes NaN.
        "--grid-size", 24, "--mixed-precision",
        # The CATH ResNet's export is tested in tests/export (test_export.py),
        # the scripts' export step by the two-worker run (tests/training).
        "--no-export",
    )  # fmt: skip
    assert result.returncode == 0, log
    assert re.search(r"^test accuracy: +[01]\.\d{3} \(4 examples", result.stdout, re.M)
    assert "mixed_bfloat16" in result.stdout, log
    test = cath_pipeline(
        "test",
        dataset=tfds.builder("cath/10arch", data_dir=data_dir).as_dataset(split="test"),
        grid_size=24,
        batch_size=2,
    )
    # Trained and evaluated in bfloat16, recomputed in float32 (logits within ~2 %).
    summary = check_outputs(
        out, log, "test", test, num_examples=4, margin=0.1, exported=False
    )
    assert summary["trainable_parameters"] == 143_560
    assert summary["replicas"] == 1
    assert summary["dtype_policy"] == "mixed_bfloat16"
    assert summary["train_examples"] == 14  # splits 0-6 of the dummy file


def shrec17_args(data_dir, out):
    return [
        "--data-dir", data_dir, "--dataset-config", "normal", "--output-dir", out,
        "--strategy", "mirrored", "--cpu-devices", 2,
    ]  # fmt: skip


@pytest.mark.slow
def test_shrec17_end_to_end_mirrored(data_dir, tmp_path):
    out = tmp_path / "shrec17"
    # The SHREC17 net's export is tested in tests/export (test_export.py), the
    # scripts' export step by the two-worker run (tests/training).
    args = [*shrec17_args(data_dir, out), "--no-export"]
    result, log = run("shrec17.py", *args, *QUICK, "--grid-size", 16)
    assert result.returncode == 0, log
    assert "(MirroredStrategy), 2 replica(s)" in result.stdout, log
    assert re.search(
        r"^validation accuracy: +[01]\.\d{3} \(2 examples", result.stdout, re.M
    )
    builder = tfds.builder("shrec17/normal", data_dir=data_dir)
    validation = shrec17_pipeline(
        "validation",
        dataset=builder.as_dataset(split="validation"),
        grid_size=16,
        voxel_size=2 / 16,
        sigma=2 / 16,
        batch_size=2,
    )
    summary = check_outputs(
        out, log, "validation", validation, num_examples=2, exported=False
    )
    assert summary["trainable_parameters"] == 142_617
    assert summary["replicas"] == 2
    assert summary["epochs_this_run"] == 1 and summary["resumed_after_epoch"] == 0


@pytest.mark.slow
def test_shrec17_mirrored_run_resumes_from_its_backup(data_dir, tmp_path):
    # Resuming is the harness's, whatever the model: the plain CNN (traced in
    # seconds, where the steerable net takes ~15 s per run) runs it twice.
    out = tmp_path / "shrec17"
    args = [*shrec17_args(data_dir, out), "--model", "cnn", "--no-export"]
    result, log = run("shrec17.py", *args, *QUICK, "--grid-size", 16)
    assert result.returncode == 0, log
    assert "new run in" in result.stdout, log

    # Same output dir, one more epoch: BackupAndRestore resumes after epoch 1.
    more = ["--epochs", "2", "--steps-per-epoch", "1", "--batch-size", "2"]
    result, log = run("shrec17.py", *args, *more, "--grid-size", 16)
    assert result.returncode == 0, log
    assert "resuming from the backup" in result.stdout, log
    assert "Epoch 2/2" in result.stdout and "Epoch 1/2" not in result.stdout, log
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed_after_epoch"] == 1 and summary["epochs_this_run"] == 1
    assert summary["replicas"] == 2
    assert len((out / "history.csv").read_text().strip().splitlines()) == 3


@pytest.mark.slow
def test_missing_data_is_a_clear_error(tmp_path):
    result, log = run(
        "cath.py", "--data-dir", tmp_path / "empty", "--no-download", *QUICK
    )
    assert result.returncode == 1, log
    assert "Traceback" not in result.stderr, log
    assert "error: the dataset cath/10arch is not prepared" in result.stderr, log
    assert "cath_10arch_ca.npz" in result.stderr and "manual" in result.stderr, log


@pytest.mark.slow
def test_malformed_tf_config_is_a_clear_error(tmp_path):
    result, log = run(
        "shrec17.py", "--strategy", "multiworker", "--output-dir", tmp_path,
        env={"TF_CONFIG": '{"cluster": {"worker": ["localhost:1"]}'},
    )  # fmt: skip
    assert result.returncode == 1, log
    assert "error: TF_CONFIG is not valid JSON" in result.stderr, log
    assert "Traceback" not in result.stderr, log
