"""Learning-rate schedule, output paths and the callbacks that make a run resumable."""

import csv
import importlib.util
import json
import os
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


def output_paths(output_dir):
    """The files and folders a run writes, under ``output_dir`` (created).

    The same for every worker of a multi-worker cluster: ``output_dir`` must be a
    folder they all share (a network file system, a bucket), where the chief
    alone writes (:func:`make_callbacks`) and every worker reads the backup from
    when a run resumes.

    Returns:
        A dict of paths: ``root``, ``backup`` (resume), ``logs`` (TensorBoard),
        ``best``, ``history``, ``model``, ``collapsed``, ``onnx``, ``summary``.
    """
    os.makedirs(output_dir, exist_ok=True)
    root = str(output_dir)
    return {
        "root": root,
        "backup": os.path.join(root, "backup"),
        "logs": os.path.join(root, "logs"),
        "best": os.path.join(root, "best.keras"),
        "history": os.path.join(root, "history.csv"),
        "model": os.path.join(root, "model.keras"),
        "collapsed": os.path.join(root, "collapsed.keras"),
        "onnx": os.path.join(root, "model.onnx"),
        "summary": os.path.join(root, "summary.json"),
    }


def completed_epochs(paths):
    """Epochs finished by an earlier run in the same output dir (0 if none).

    Read from the ``BackupAndRestore`` metadata in ``paths["backup"]``.
    """
    metadata = os.path.join(paths["backup"], "training_metadata.json")
    if not os.path.exists(metadata):
        return 0
    with open(metadata) as f:
        return int(json.load(f)["epoch"])


def best_so_far(paths, monitor):
    """The largest ``monitor`` value in ``paths["history"]`` (None if none).

    The CSV history of earlier runs in the same output dir: a resumed run's best
    checkpoint must beat it, not start over.
    """
    if not os.path.exists(paths["history"]):
        return None
    with open(paths["history"], newline="") as f:
        values = [float(row[monitor]) for row in csv.DictReader(f) if row.get(monitor)]
    return max(values) if values else None


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


def make_callbacks(paths, schedule, monitor="val_accuracy"):
    """The callbacks of a resumable run: backup, schedule, best checkpoint, logs.

    :class:`ChiefBackupAndRestore` in ``paths["backup"]``, the learning-rate
    ``schedule``, and, on the chief only (every process without ``TF_CONFIG``):
    the best ``monitor`` (max) in ``paths["best"]`` (to beat the best of earlier
    runs), the CSV history in ``paths["history"]`` (appended) and, if TensorBoard
    is installed, its logs in ``paths["logs"]``.  The other workers of a cluster
    write nothing.

    The backup is kept after training: rerunning the same command resumes an
    interrupted run, and a larger ``--epochs`` extends a finished one.
    """
    callbacks = [
        ChiefBackupAndRestore(paths["backup"]),
        keras.callbacks.LearningRateScheduler(schedule),
    ]
    if not is_chief():
        return callbacks
    callbacks += [
        keras.callbacks.ModelCheckpoint(
            paths["best"],
            monitor=monitor,
            mode="max",
            save_best_only=True,
            initial_value_threshold=best_so_far(paths, monitor),
        ),
        keras.callbacks.CSVLogger(paths["history"], append=True),
    ]
    if importlib.util.find_spec("tensorboard") is None:
        print("no TensorBoard logs: `pip install tensorboard` to get them")
    else:
        callbacks.append(keras.callbacks.TensorBoard(paths["logs"], write_graph=False))
    return callbacks


def trainable_parameters(model):
    """The number of trainable scalars of ``model``."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))
