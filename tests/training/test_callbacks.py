"""keras_se3.training.callbacks: the schedule, output paths, resuming, timing."""

import csv
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_se3 import training


def test_learning_rate_schedule_is_the_papers():
    schedule = training.learning_rate_schedule(1e-3, 0.94, 40)
    assert schedule(0) == schedule(39) == pytest.approx(1e-3)
    assert schedule(40) == pytest.approx(0.94e-3)
    assert schedule(99) == pytest.approx(1e-3 * 0.94**60)
    assert schedule(99, lr=5.0) == schedule(99)  # the current rate is ignored


def test_every_worker_has_the_chiefs_paths(monkeypatch, tmp_path):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    paths = training.output_paths(tmp_path / "run")
    assert Path(paths["root"]) == tmp_path / "run" and (tmp_path / "run").is_dir()
    assert Path(paths["best"]) == tmp_path / "run" / "best.keras"
    config = {
        "cluster": {"worker": ["a:1", "b:1"]},
        "task": {"type": "worker", "index": 1},
    }
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    # One shared folder: the other workers read the chief's backup from it.
    assert training.output_paths(tmp_path / "run") == paths


@pytest.mark.parametrize("chief", [True, False])
def test_only_the_chief_writes(monkeypatch, tmp_path, chief):
    config = {
        "cluster": {"worker": ["a:1", "b:1"]},
        "task": {"type": "worker", "index": 0 if chief else 1},
    }
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    paths = training.output_paths(tmp_path)
    callbacks = training.make_callbacks(
        paths, training.learning_rate_schedule(0.1, 0.9, 1), monitor="val_loss"
    )
    x, y = np.ones((4, 3)), np.zeros((4, 2))
    model.fit(x, y, validation_data=(x, y), epochs=2, callbacks=callbacks, verbose=0)
    written = {p.name for p in tmp_path.iterdir()} - {"logs"}
    if chief:
        assert written == {"backup", "best.keras", "history.csv"}
        assert training.completed_epochs(paths) == 2
    else:
        assert written == set()
        # A backup of the chief's is what every worker restores from.
        (tmp_path / "backup").mkdir()
        (tmp_path / "backup" / "training_metadata.json").write_text('{"epoch": 1}')
        history = model.fit(
            x, y, epochs=3, callbacks=training.make_callbacks(paths, lambda e: 0.1)
        )
        assert history.epoch == [1, 2]  # resumed after the chief's epoch 1
        assert (
            json.loads((tmp_path / "backup" / "training_metadata.json").read_text())[
                "epoch"
            ]
            == 1
        )  # and not written by this worker


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
