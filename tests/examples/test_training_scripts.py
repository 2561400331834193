"""End-to-end runs of examples/cath.py and examples/shrec17.py on the dummy data.

Each script runs as a subprocess for one step of one epoch on small grids, with the
real networks, and must exit 0 with its checkpoints, its exports and a final
accuracy in its summary.  The steerable CATH ResNet takes most of the time (about
a minute of TensorFlow graph tracing), so its run also covers the mirrored
strategy on 2 logical CPU devices and mixed precision (bfloat16 on CPU).
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from ..datasets.conftest import dummy_dir, tfds
from .scripts import SCRIPT_TIMEOUT, load_example

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
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


def run(script, *args, env=None):
    environment = {
        k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "PYTHONPATH")
    }
    environment.update(PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *map(str, args)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=SCRIPT_TIMEOUT,
    )
    log = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-5000:]}"
    return result, log


def check_outputs(out, log, split):
    for name in ("best.keras", "model.keras", "collapsed.keras", "model.onnx"):
        assert (out / name).is_file(), f"{name} missing\n{log}"
    assert (out / "backup" / "training_metadata.json").is_file(), log
    assert (out / "history.csv").is_file(), log
    summary = json.loads((out / "summary.json").read_text())
    assert 0.0 <= summary[f"{split}_accuracy"] <= 1.0
    assert summary["export_errors"]["onnx"] < 1e-3
    return summary


def test_cath_end_to_end_mirrored_mixed_precision(data_dir, tmp_path):
    out = tmp_path / "cath"
    result, log = run(
        "cath.py",
        "--data-dir", data_dir, "--output-dir", out, *QUICK,
        # 24^3: stage 4 works on 3^3 maps.  On 2^3 maps (a 16^3 grid) TensorFlow's
        # bfloat16 Conv3D weight gradient on CPU is garbage, sometimes NaN.
        "--grid-size", 24,
        "--strategy", "mirrored", "--cpu-devices", 2, "--mixed-precision",
    )  # fmt: skip
    assert result.returncode == 0, log
    assert re.search(r"^test accuracy: +[01]\.\d{3} \(4 examples", result.stdout, re.M)
    assert "(MirroredStrategy), 2 replica(s)" in result.stdout, log
    assert "mixed_bfloat16" in result.stdout, log
    summary = check_outputs(out, log, "test")
    assert summary["trainable_parameters"] == 143_560
    assert summary["replicas"] == 2
    assert summary["dtype_policy"] == "mixed_bfloat16"
    assert summary["train_examples"] == 14  # splits 0-6 of the dummy file


def test_shrec17_end_to_end_then_resume(data_dir, tmp_path):
    out = tmp_path / "shrec17"
    args = ["--data-dir", data_dir, "--dataset-config", "normal", "--output-dir", out]
    result, log = run("shrec17.py", *args, *QUICK, "--grid-size", 16)
    assert result.returncode == 0, log
    assert re.search(
        r"^validation accuracy: +[01]\.\d{3} \(2 examples", result.stdout, re.M
    )
    summary = check_outputs(out, log, "validation")
    assert summary["trainable_parameters"] == 142_617
    assert summary["epochs_this_run"] == 1 and summary["resumed_after_epoch"] == 0

    # Same output dir, one more epoch: BackupAndRestore resumes after epoch 1.
    more = ["--epochs", "2", "--steps-per-epoch", "1", "--batch-size", "2"]
    result, log = run("shrec17.py", *args, *more, "--grid-size", 16, "--no-export")
    assert result.returncode == 0, log
    assert "resuming from the backup" in result.stdout, log
    assert "Epoch 2/2" in result.stdout and "Epoch 1/2" not in result.stdout, log
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed_after_epoch"] == 1 and summary["epochs_this_run"] == 1
    assert len((out / "history.csv").read_text().strip().splitlines()) == 3


def test_missing_data_is_a_clear_error(tmp_path):
    result, log = run(
        "cath.py", "--data-dir", tmp_path / "empty", "--no-download", *QUICK
    )
    assert result.returncode == 1, log
    assert "Traceback" not in result.stderr, log
    assert "error: the dataset cath/10arch is not prepared" in result.stderr, log
    assert "cath_10arch_ca.npz" in result.stderr and "manual" in result.stderr, log


def test_malformed_tf_config_is_a_clear_error(tmp_path):
    result, log = run(
        "shrec17.py", "--strategy", "multiworker", "--output-dir", tmp_path,
        env={"TF_CONFIG": '{"cluster": {"worker": ["localhost:1"]}'},
    )  # fmt: skip
    assert result.returncode == 1, log
    assert "error: TF_CONFIG is not valid JSON" in result.stderr, log
    assert "Traceback" not in result.stderr, log


def test_common_helpers(tmp_path, monkeypatch):
    common = load_example("common")
    schedule = common.learning_rate_schedule(1e-3, 0.94, 40)
    assert schedule(0) == schedule(39) == pytest.approx(1e-3)
    assert schedule(40) == pytest.approx(0.94e-3)
    assert schedule(99) == pytest.approx(1e-3 * 0.94**60)

    bad = {
        "[1, 2]": "needs a 'cluster' and a 'task'",
        '{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}':
            "is not in its cluster",
        '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}':
            "out of range",
    }  # fmt: skip
    for text, message in bad.items():
        monkeypatch.setenv("TF_CONFIG", text)
        with pytest.raises(common.SetupError, match=message):
            common.read_tf_config()
    two = {"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker"}}
    for index, chief in ((0, True), (1, False)):
        two["task"]["index"] = index
        monkeypatch.setenv("TF_CONFIG", json.dumps(two))
        assert common.is_chief() is chief
    monkeypatch.delenv("TF_CONFIG")
    assert common.is_chief()

    # --manual-dir: the script prepares the dataset from the source files.
    builder = common.prepare_dataset(
        "cath/10arch",
        data_dir=tmp_path,
        manual_dir=dummy_dir("cath"),
        download=False,
        files=["cath_10arch_ca.npz"],
    )
    assert builder.is_prepared()
    assert builder.info.splits["train"].num_examples == 14
    subset = common.subset(builder.as_dataset(split="train"), 4)
    assert len(list(subset)) == 4  # every 4th of 14: examples 0, 4, 8, 12
