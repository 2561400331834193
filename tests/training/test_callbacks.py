"""keras_se3.training.callbacks: the schedule, output paths, resuming, timing."""

import csv
import json
from pathlib import Path

import pytest

from keras_se3 import training


def test_learning_rate_schedule_is_the_papers():
    schedule = training.learning_rate_schedule(1e-3, 0.94, 40)
    assert schedule(0) == schedule(39) == pytest.approx(1e-3)
    assert schedule(40) == pytest.approx(0.94e-3)
    assert schedule(99) == pytest.approx(1e-3 * 0.94**60)
    assert schedule(99, lr=5.0) == schedule(99)  # the current rate is ignored


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
