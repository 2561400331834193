"""examples/experiment.py, the scripts' harness: options, datasets, output
folders, the whole run.

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
from tests.examples.scripts import load_example

from ..datasets.conftest import dummy_dir

experiment = load_example("experiment")


def test_training_arguments_defaults_and_parsing():
    parser = experiment.add_training_arguments(
        argparse.ArgumentParser(), epochs=7, batch_size=4, learning_rate=0.5
    )
    args = parser.parse_args([])
    assert (args.epochs, args.batch_size, args.learning_rate) == (7, 4, 0.5)
    assert (args.lr_decay, args.lr_burn_in) == (0.94, 40)
    assert args.download and args.export and args.strategy == "default"
    args = parser.parse_args(["--no-download", "--no-export", "--strategy", "mirrored"])
    assert not args.download and not args.export and args.strategy == "mirrored"


def test_prepare_dataset_from_the_manual_dir(tmp_path):
    builder = experiment.prepare_dataset(
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
        for e in experiment.subset(builder.as_dataset(split="train"), 4)
    ]
    every = [int(e["domain_index"]) for e in builder.as_dataset(split="train")]
    assert indices == every[::4] and len(indices) == 4  # examples 0, 4, 8, 12


def test_prepare_dataset_says_what_is_missing_and_where(tmp_path):
    with pytest.raises(training.SetupError) as error:
        experiment.prepare_dataset(
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
        experiment.prepare_dataset(
            "cath/10arch",
            data_dir=tmp_path / "data",
            manual_dir=manual,
            download=False,
            files=["cath_10arch_ca.npz"],
        )
    message = str(error.value)
    assert str(manual / "cath_10arch_ca.npz") in message
    assert "truncated" in message and "raw.githubusercontent.com" in message


def test_every_worker_has_the_chiefs_paths(monkeypatch, tmp_path):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    paths = experiment.output_paths(tmp_path / "run")
    assert Path(paths["root"]) == tmp_path / "run" and (tmp_path / "run").is_dir()
    assert Path(paths["best"]) == tmp_path / "run" / "best.keras"
    config = {
        "cluster": {"worker": ["a:1", "b:1"]},
        "task": {"type": "worker", "index": 1},
    }
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    # One shared folder: the other workers read the chief's backup from it.
    assert experiment.output_paths(tmp_path / "run") == paths


@pytest.mark.parametrize("chief", [True, False])
def test_only_the_chief_writes(monkeypatch, tmp_path, chief):
    config = {
        "cluster": {"worker": ["a:1", "b:1"]},
        "task": {"type": "worker", "index": 0 if chief else 1},
    }
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    paths = experiment.output_paths(tmp_path)
    callbacks = experiment.make_callbacks(
        paths, training.learning_rate_schedule(0.1, 0.9, 1), monitor="val_loss"
    )
    x, y = np.ones((4, 3)), np.zeros((4, 2))
    model.fit(x, y, validation_data=(x, y), epochs=2, callbacks=callbacks, verbose=0)
    written = {p.name for p in tmp_path.iterdir()} - {"logs"}
    if chief:
        assert written == {"backup", "best.keras", "history.csv"}
        assert experiment.completed_epochs(paths) == 2
    else:
        assert written == set()
        # A backup of the chief's is what every worker restores from.
        (tmp_path / "backup").mkdir()
        (tmp_path / "backup" / "training_metadata.json").write_text('{"epoch": 1}')
        history = model.fit(
            x, y, epochs=3, callbacks=experiment.make_callbacks(paths, lambda e: 0.1)
        )
        assert history.epoch == [1, 2]  # resumed after the chief's epoch 1
        assert (
            json.loads((tmp_path / "backup" / "training_metadata.json").read_text())[
                "epoch"
            ]
            == 1
        )  # and not written by this worker


def test_resume_state_is_read_from_the_backup_and_history(tmp_path):
    paths = experiment.output_paths(tmp_path)
    assert experiment.completed_epochs(paths) == 0
    assert experiment.best_so_far(paths, "val_accuracy") is None
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "training_metadata.json").write_text('{"epoch": 3}')
    assert experiment.completed_epochs(paths) == 3
    with open(paths["history"], "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerows([["epoch", "val_accuracy"], [0, 0.25], [1, 0.75], [2, 0.5]])
    assert experiment.best_so_far(paths, "val_accuracy") == 0.75


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
    parser = experiment.add_training_arguments(
        argparse.ArgumentParser(), epochs=2, batch_size=4, learning_rate=0.0
    )
    args = parser.parse_args(
        ["--output-dir", str(tmp_path), "--no-export", "--verbose", "0"]
    )
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.get_strategy()
    summary = experiment.train_evaluate_export(
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
    # --no-export skips the collapse and ONNX, not the trained weights.
    assert f"trained model:       {tmp_path / 'model.keras'}" in out
    saved = keras.saving.load_model(tmp_path / "model.keras").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(saved, weights))
    assert not (tmp_path / "collapsed.keras").exists()

    # The same command with --epochs 3 resumes after epoch 2.
    args.epochs = 3
    summary = experiment.train_evaluate_export(
        args,
        strategy=strategy,
        title="tiny run",
        build_model=build_model,
        data=data,
        final_split="test",
    )
    assert summary["resumed_after_epoch"] == 2 and summary["epochs_this_run"] == 1
    assert "resuming from the backup" in capsys.readouterr().out
