"""keras_se3.training.callbacks: the paper's schedule and the step timer.

ChiefBackupAndRestore is tested through the examples' callbacks
(tests/examples/test_experiment.py) and in the two-worker runs
(tests/training/test_multiworker.py).
"""

import pytest

from keras_se3 import training


def test_learning_rate_schedule_is_the_papers():
    schedule = training.learning_rate_schedule(1e-3, 0.94, 40)
    assert schedule(0) == schedule(39) == pytest.approx(1e-3)
    assert schedule(40) == pytest.approx(0.94e-3)
    assert schedule(99) == pytest.approx(1e-3 * 0.94**60)
    assert schedule(99, lr=5.0) == schedule(99)  # the current rate is ignored


def test_step_timer_describes_the_steps():
    timer = training.StepTimer()
    assert timer.describe() == "no training step in this run"
    timer.times = [3.0, 0.5, 0.25, 0.75]
    assert timer.describe() == (
        "first step 3.0 s (includes graph tracing), then median 0.50 s/step"
    )
