"""The paper's learning-rate schedule, a step timer and a cluster's backup."""

import time

import keras
import numpy as np

from keras_se3.training.distribute import is_chief


def learning_rate_schedule(initial, decay, burn_in):
    """The paper's CATH schedule, for ``keras.callbacks.LearningRateScheduler``.

    ``initial`` for the first ``burn_in`` epochs, then multiplied by ``decay`` at
    each further epoch: epoch ``e`` (from 0) gets
    ``initial * decay ** max(0, e + 1 - burn_in)``.

    Returns:
        A function ``schedule(epoch, lr=None) -> float``.
    """

    def schedule(epoch, lr=None):
        return float(initial * decay ** max(0, epoch + 1 - burn_in))

    return schedule


class StepTimer(keras.callbacks.Callback):
    """Records the wall time of each training step in ``times`` (seconds).

    The first step includes TensorFlow's graph tracing; :meth:`describe` says so.
    """

    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self._start)

    def describe(self):
        """One line: the first step's time and the median of the others."""
        if not self.times:
            return "no training step in this run"
        text = f"first step {self.times[0]:.1f} s (includes graph tracing)"
        if len(self.times) > 1:
            text += f", then median {np.median(self.times[1:]):.2f} s/step"
        return text


class ChiefBackupAndRestore(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` for a cluster: every worker restores, the chief saves.

    On one process (no ``TF_CONFIG``) it is Keras's callback.  In a multi-worker
    cluster all workers read the one backup in the shared folder when training
    begins, so they resume at the same epoch with the same weights; only the
    chief writes it, so a worker killed while the chief saves cannot leave the
    workers with backups of different epochs.  Two backups are kept
    (``double_checkpoint``): a save cut short falls back to the one before.
    """

    def __init__(self, backup_dir):
        super().__init__(backup_dir, delete_checkpoint=False, double_checkpoint=True)
        self.chief = is_chief()

    def on_epoch_end(self, epoch, logs=None):
        if self.chief:
            super().on_epoch_end(epoch, logs)

    def on_train_batch_end(self, batch, logs=None):
        if self.chief:
            super().on_train_batch_end(batch, logs)
