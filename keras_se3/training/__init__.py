"""Distributed and mixed-precision training of keras_se3 models with TensorFlow.

What a training script of your own reuses (TensorFlow backend: these are
``tf.distribute`` tools):

- :func:`make_strategy`: a ``tf.distribute`` strategy by name (``"default"``,
  ``"mirrored"``, ``"multiworker"``, the last from ``TF_CONFIG``, read and checked
  by :func:`read_tf_config`), with :func:`patch_keras_for_multiworker`, the fix
  that lets Keras's ``fit`` resume and checkpoint under ``MultiWorkerMirroredStrategy``;
  :func:`is_chief` says which process writes;
- :func:`set_mixed_precision` (bfloat16 on CPUs, float16 on GPUs) and
  :func:`float32_logits` (the loss sees float32 logits);
- :class:`ChiefBackupAndRestore` (every worker restores, the chief writes the
  backup), :class:`StepTimer`, and the paper's CATH schedule
  :func:`learning_rate_schedule`;
- :func:`shard_by_example` and :func:`full_batches`: tf.data that a cluster can
  split (small TFDS splits are one file) and that never hands a replica an
  empty share;
- :class:`SetupError`: raised with what is wrong and how to fix it.

The example scripts' own harness (command-line options, output folders, the
export of a trained net, the printed report) is ``examples/experiment.py``.

Example::

    from keras_se3 import training

    strategy = training.make_strategy("mirrored")  # before any other TF work
    training.set_mixed_precision(True)
    with strategy.scope():
        model = training.float32_logits(keras_se3.models.tetris_net())
        model.compile(...)
    model.fit(
        training.full_batches(train, batch_size=16, repeat=True),
        steps_per_epoch=100,
        callbacks=[training.ChiefBackupAndRestore("backup")],
    )
"""

from keras_se3.training.callbacks import (
    ChiefBackupAndRestore,
    StepTimer,
    learning_rate_schedule,
)
from keras_se3.training.data import full_batches, shard_by_example
from keras_se3.training.distribute import (
    float32_logits,
    is_chief,
    make_strategy,
    patch_keras_for_multiworker,
    read_tf_config,
    set_mixed_precision,
    split_cpu,
    values_on_every_replica,
)
from keras_se3.training.errors import SetupError

__all__ = [
    "ChiefBackupAndRestore",
    "SetupError",
    "StepTimer",
    "float32_logits",
    "full_batches",
    "is_chief",
    "learning_rate_schedule",
    "make_strategy",
    "patch_keras_for_multiworker",
    "read_tf_config",
    "set_mixed_precision",
    "shard_by_example",
    "split_cpu",
    "values_on_every_replica",
]
