"""Training, evaluation and export of the paper's experiments, as command lines.

What the CATH and SHREC'17 scripts (``examples/cath.py``, ``examples/shrec17.py``)
share, and what a script of your own can reuse: command-line options
(:func:`add_training_arguments`), a ``tf.distribute`` strategy from a name and
``TF_CONFIG`` (:func:`make_strategy`), mixed precision (:func:`set_mixed_precision`),
a prepared TFDS dataset with a clear error when its files are missing
(:func:`prepare_dataset`), the paper's learning-rate schedule
(:func:`learning_rate_schedule`), the Keras callbacks that make a run resumable
(:func:`make_callbacks`), the float32 ``.keras`` + collapsed + ONNX export of a trained
model (:func:`export_trained`), and the whole run (:func:`train_evaluate_export`).

Where this code lives: it was ``examples/common.py``, a
training framework among the examples that the tests imported through a
``sys.path`` insert.  It is reusable, tested code, so it moved into the package,
here, with its tests in ``tests/training/``; the scripts in ``examples/``
keep only what is particular to each experiment, and their own tests run them as
scripts.  It needs the ``examples`` extra for the data and the export
(``pip install "keras-se3[examples]"``); importing it needs only TensorFlow.

Example::

    import argparse
    from keras_se3 import training

    parser = training.add_training_arguments(
        argparse.ArgumentParser(), epochs=100, batch_size=16, learning_rate=1e-3
    )
    args = parser.parse_args()
    strategy = training.make_strategy(args.strategy)   # before any other TF work
    training.set_mixed_precision(args.mixed_precision)
    summary = training.train_evaluate_export(
        args, strategy=strategy, title="my run", build_model=build,
        data={"train": (train, 1000), "validation": (val, 100), "test": (test, 100)},
        final_split="test",
    )
"""

from keras_se3.training.callbacks import (
    ChiefBackupAndRestore,
    StepTimer,
    best_so_far,
    completed_epochs,
    learning_rate_schedule,
    make_callbacks,
    output_paths,
    trainable_parameters,
)
from keras_se3.training.cli import SetupError, add_training_arguments, run_main
from keras_se3.training.data import (
    first_examples,
    prepare_dataset,
    shard_by_example,
    subset,
)
from keras_se3.training.distribute import (
    float32_logits,
    is_chief,
    make_strategy,
    patch_keras_for_multiworker,
    read_tf_config,
    set_mixed_precision,
    split_cpu,
)
from keras_se3.training.machine import cpu_name, usable_cores
from keras_se3.training.run import export_trained, train_evaluate_export, write_summary

__all__ = [
    "ChiefBackupAndRestore",
    "SetupError",
    "StepTimer",
    "add_training_arguments",
    "best_so_far",
    "completed_epochs",
    "cpu_name",
    "export_trained",
    "first_examples",
    "float32_logits",
    "is_chief",
    "learning_rate_schedule",
    "make_callbacks",
    "make_strategy",
    "patch_keras_for_multiworker",
    "output_paths",
    "prepare_dataset",
    "read_tf_config",
    "run_main",
    "set_mixed_precision",
    "shard_by_example",
    "split_cpu",
    "subset",
    "train_evaluate_export",
    "trainable_parameters",
    "usable_cores",
    "write_summary",
]
