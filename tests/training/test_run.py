"""keras_se3.training.run: one whole small run in this process.

The scripts that use it (examples/cath.py, examples/shrec17.py) are run end to end
in tests/examples/test_training_scripts.py.
"""

import argparse
import csv
import json
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_se3 import training
from keras_se3.training.run import full_batches


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


def test_full_batches_never_repeat_the_partial_batch():
    # 3 examples in batches of 2: repeating the batches would give 2, 1, 2, 1...
    # (a replica's share of the 1 can be empty, which breaks a traced step).
    batches = tf.data.Dataset.range(3).batch(2)
    endless = full_batches(batches, 2, repeat=True).take(4)
    assert [b.numpy().tolist() for b in endless] == [[0, 1], [2, 0], [1, 2], [0, 1]]
    once = full_batches(batches, 2, repeat=False)
    assert [b.numpy().tolist() for b in once] == [[0, 1]]
