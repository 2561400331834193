"""keras_se3.training: the pieces, and one whole small run in this process.

The scripts that use it (examples/cath.py, examples/shrec17.py) are run end to end
in tests/examples/test_training_scripts.py.
"""

import argparse
import csv
import json
import re
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_se3 import training

from .datasets.conftest import dummy_dir


def test_learning_rate_schedule_is_the_papers():
    schedule = training.learning_rate_schedule(1e-3, 0.94, 40)
    assert schedule(0) == schedule(39) == pytest.approx(1e-3)
    assert schedule(40) == pytest.approx(0.94e-3)
    assert schedule(99) == pytest.approx(1e-3 * 0.94**60)
    assert schedule(99, lr=5.0) == schedule(99)  # the current rate is ignored


@pytest.mark.parametrize(
    "text, message",
    [
        ("{", "TF_CONFIG is not valid JSON"),
        ("[1, 2]", "needs a 'cluster' and a 'task'"),
        (
            '{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}',
            "is not in its cluster",
        ),
        (
            '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}',
            r"index 1 is out of range: the cluster has 1 worker\(s\)",
        ),
    ],
)
def test_bad_tf_config_is_a_setup_error(monkeypatch, text, message):
    monkeypatch.setenv("TF_CONFIG", text)
    with pytest.raises(training.SetupError, match=message):
        training.read_tf_config()


def test_chief_is_worker_0_or_the_chief_task(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert training.read_tf_config() is None and training.is_chief()
    two = {"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker"}}
    for index, chief in ((0, True), (1, False)):
        two["task"]["index"] = index
        monkeypatch.setenv("TF_CONFIG", json.dumps(two))
        assert training.is_chief() is chief
    with_chief = {
        "cluster": {"chief": ["c:1"], "worker": ["a:1"]},
        "task": {"type": "worker", "index": 0},
    }
    monkeypatch.setenv("TF_CONFIG", json.dumps(with_chief))
    assert not training.is_chief()
    with_chief["task"] = {"type": "chief", "index": 0}
    monkeypatch.setenv("TF_CONFIG", json.dumps(with_chief))
    assert training.is_chief()


def test_non_chief_workers_write_in_their_own_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    paths = training.output_paths(tmp_path / "run")
    assert Path(paths["root"]) == tmp_path / "run" and (tmp_path / "run").is_dir()
    assert Path(paths["best"]) == tmp_path / "run" / "best.keras"
    config = {
        "cluster": {"worker": ["a:1", "b:1"]},
        "task": {"type": "worker", "index": 1},
    }
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    paths = training.output_paths(tmp_path / "run")
    assert Path(paths["root"]) == tmp_path / "run" / "worker_worker_1"
    assert Path(paths["onnx"]) == tmp_path / "run" / "worker_worker_1" / "model.onnx"


def test_resume_state_is_read_from_the_backup_and_history(tmp_path):
    paths = training.output_paths(tmp_path)
    assert training.completed_epochs(paths) == 0
    assert training.best_so_far(paths, "val_accuracy") is None
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "training_metadata.json").write_text('{"epoch": 3}')
    assert training.completed_epochs(paths) == 3
    with open(paths["history"], "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerows([["epoch", "val_accuracy"], [0, 0.25], [1, 0.75], [2, 0.5]])
    assert training.best_so_far(paths, "val_accuracy") == 0.75


def test_step_timer_describes_the_steps():
    timer = training.StepTimer()
    assert timer.describe() == "no training step in this run"
    timer.times = [3.0, 0.5, 0.25, 0.75]
    assert timer.describe() == (
        "first step 3.0 s (includes graph tracing), then median 0.50 s/step"
    )


def test_training_arguments_defaults_and_parsing():
    parser = training.add_training_arguments(
        argparse.ArgumentParser(), epochs=7, batch_size=4, learning_rate=0.5
    )
    args = parser.parse_args([])
    assert (args.epochs, args.batch_size, args.learning_rate) == (7, 4, 0.5)
    assert (args.lr_decay, args.lr_burn_in) == (0.94, 40)
    assert args.download and args.export and args.strategy == "default"
    args = parser.parse_args(["--no-download", "--no-export", "--strategy", "mirrored"])
    assert not args.download and not args.export and args.strategy == "mirrored"


def test_mixed_precision_policy_and_float32_logits(capsys):
    try:
        assert training.set_mixed_precision(True) == "mixed_bfloat16"  # no GPU here
        assert "kernel-sized" in capsys.readouterr().out  # the CPU bfloat16 caveat
        inputs = keras.Input((3,))
        model = keras.Model(inputs, keras.layers.Dense(2)(inputs), name="net")
    finally:
        assert training.set_mixed_precision(False) == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"
    wrapped = training.float32_logits(model)
    x = np.arange(6, dtype="float32").reshape(2, 3)
    assert model(x).dtype == "bfloat16" and wrapped(x).dtype == "float32"
    np.testing.assert_array_equal(
        np.asarray(wrapped(x)), np.asarray(model(x), dtype="float32")
    )
    assert (
        wrapped.name == "net" and wrapped.trainable_weights == model.trainable_weights
    )


def test_prepare_dataset_from_the_manual_dir(tmp_path):
    builder = training.prepare_dataset(
        "cath/10arch",
        data_dir=tmp_path,
        manual_dir=dummy_dir("cath"),
        download=False,
        files=["cath_10arch_ca.npz"],
    )
    assert builder.is_prepared()
    assert builder.info.splits["train"].num_examples == 14
    indices = [
        int(e["domain_index"])
        for e in training.subset(builder.as_dataset(split="train"), 4)
    ]
    every = [int(e["domain_index"]) for e in builder.as_dataset(split="train")]
    assert indices == every[::4] and len(indices) == 4  # examples 0, 4, 8, 12


def test_prepare_dataset_says_what_is_missing_and_where(tmp_path):
    with pytest.raises(training.SetupError) as error:
        training.prepare_dataset(
            "cath/10arch",
            data_dir=tmp_path / "data",
            manual_dir=tmp_path / "manual",
            download=False,
            files=["cath_10arch_ca.npz"],
        )
    message = str(error.value)
    assert f"manual download directory {tmp_path / 'manual'} lacks" in message
    assert "cath_10arch_ca.npz" in message and "github.com/wouterboomsma" in message


def test_a_truncated_manual_file_is_a_setup_error_with_the_fix(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    good = (dummy_dir("cath") / "cath_10arch_ca.npz").read_bytes()
    (manual / "cath_10arch_ca.npz").write_bytes(good[: len(good) // 2])
    with pytest.raises(training.SetupError) as error:
        training.prepare_dataset(
            "cath/10arch",
            data_dir=tmp_path / "data",
            manual_dir=manual,
            download=False,
            files=["cath_10arch_ca.npz"],
        )
    message = str(error.value)
    assert str(manual / "cath_10arch_ca.npz") in message
    assert "truncated" in message and "raw.githubusercontent.com" in message


def _tiny_data(seed, count):
    """Two well-separated classes of 4-vectors, batched by 4."""
    rng = np.random.default_rng(seed)
    y = np.arange(count) % 2
    x = rng.normal(size=(count, 4)).astype("float32") + 3 * y[:, None]
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(4), (x, y)


def test_train_evaluate_export_runs_resumes_and_reports(tmp_path, capsys):
    def build_model():
        inputs = keras.Input((4,))
        return keras.Model(inputs, keras.layers.Dense(2)(inputs), name="tiny")

    train, _ = _tiny_data(0, 16)
    validation, _ = _tiny_data(1, 8)
    test, (x_test, y_test) = _tiny_data(2, 8)
    data = {"train": (train, 16), "validation": (validation, 8), "test": (test, 8)}
    parser = training.add_training_arguments(
        argparse.ArgumentParser(), epochs=2, batch_size=4, learning_rate=0.0
    )
    args = parser.parse_args(
        ["--output-dir", str(tmp_path), "--no-export", "--verbose", "0"]
    )
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.get_strategy()
    summary = training.train_evaluate_export(
        args,
        strategy=strategy,
        title="tiny run",
        build_model=build_model,
        data=data,
        final_split="test",
    )
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert summary["epochs_this_run"] == 2 and summary["resumed_after_epoch"] == 0
    assert summary["trainable_parameters"] == 4 * 2 + 2
    assert summary["train_examples"] == 16 and summary["test_examples"] == 8
    # Learning rate 0: the weights in best.keras are the initial ones, and the
    # reported test accuracy is theirs, recomputed here by hand.
    weights = keras.saving.load_model(tmp_path / "best.keras").get_weights()
    expected = np.mean((x_test @ weights[0] + weights[1]).argmax(-1) == y_test)
    assert summary["test_accuracy"] == pytest.approx(expected)
    with open(tmp_path / "history.csv", newline="") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0", "1"]
    out = capsys.readouterr().out
    assert f"new run in {tmp_path}" in out
    assert re.search(r"^test accuracy: +\d\.\d{3} \(8 examples, loss", out, re.M)
    assert f"output:              {tmp_path}" in out

    # The same command with --epochs 3 resumes after epoch 2.
    args.epochs = 3
    summary = training.train_evaluate_export(
        args,
        strategy=strategy,
        title="tiny run",
        build_model=build_model,
        data=data,
        final_split="test",
    )
    assert summary["resumed_after_epoch"] == 2 and summary["epochs_this_run"] == 1
    assert "resuming from the backup" in capsys.readouterr().out
