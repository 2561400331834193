"""The experiments' harness: what the CATH and SHREC'17 scripts share.

Command-line options (:func:`add_training_arguments`), a one-line error for a
problem the user can fix (:func:`run_main`), a prepared TFDS dataset with the
builder's instructions when files are missing (:func:`prepare_dataset`), the output
folder of a resumable run (:func:`output_paths`, :func:`make_callbacks`), the
float32 ``.keras`` + collapsed + ONNX export of a trained model
(:func:`save_trained`, :func:`export_trained`) and the whole run
(:func:`train_evaluate_export`).

This is example code, not the package's API: it prints, parses command lines and
exits.  What a user's own training reuses is in :mod:`keras_se3.training` (the
strategies, the multi-worker fix, mixed precision, the resumable backup callback,
the learning-rate schedule, the data sharding); this file shows them at work.
The scripts import it when they run (``examples/`` is then on ``sys.path``).
"""

import argparse
import csv
import importlib.util
import json
import os
import sys
import time

import keras
import numpy as np

import keras_se3
import keras_se3.optimizers
from keras_se3.training import (
    ChiefBackupAndRestore,
    SetupError,
    StepTimer,
    float32_logits,
    full_batches,
    is_chief,
    learning_rate_schedule,
    shard_by_example,
    values_on_every_replica,
)


def run_main(main):
    """Run a script's ``main()`` as a command line.

    A :class:`SetupError` becomes ``error: <message>`` on stderr and exit status 1;
    Ctrl-C says how to resume and exits with 130.  Standard output is line-buffered
    so that progress shows up in piped logs.

    Args:
        main: a function of no arguments.
    """
    sys.stdout.reconfigure(line_buffering=True)  # progress shows up in piped logs
    try:
        main()
    except SetupError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print(
            "\ninterrupted: rerun the same command (same --output-dir) to resume "
            "from the last completed epoch.",
            file=sys.stderr,
        )
        sys.exit(130)


def add_unet_comparison_arguments(parser, *, steps):
    """Add the options of a dense-prediction comparison (examples/segmentation.py,
    examples/proteins.py): ``--data-dir``, ``--steps``, ``--batch-size``,
    ``--learning-rate``, ``--seed``, which nets (``--no-cnn``, ``--cnn-rotate``)
    and outputs (``--export``, ``--plots``, ``--json``, ``--verbose``).

    Returns:
        ``parser``.
    """
    parser.add_argument("--data-dir", help="TFDS data directory")
    parser.add_argument("--steps", type=int, default=steps, help="Adam steps")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-cnn", action="store_true", help="skip unet_cnn")
    parser.add_argument(
        "--cnn-rotate", action="store_true", help="add unet_cnn trained on rotations"
    )
    parser.add_argument("--export", metavar="DIR", help="collapse + ONNX export here")
    parser.add_argument("--plots", metavar="DIR", help="save the figure here")
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--verbose", type=int, default=1, help="of model.fit")
    return parser


def add_training_arguments(parser, *, epochs, batch_size, learning_rate):
    """Add the options of a training run to an ``argparse`` parser.

    Data (``--data-dir``, ``--manual-dir``, ``--no-download``), training
    (``--epochs``, ``--batch-size``, ``--learning-rate``, ``--lr-decay``,
    ``--lr-burn-in``, ``--steps-per-epoch``, ``--eval-steps``, ``--seed``,
    ``--output-dir``, ``--no-export``, ``--verbose``) and hardware (``--strategy``,
    ``--mixed-precision``): what :func:`train_evaluate_export` reads.

    Args:
        parser: an ``argparse.ArgumentParser``.
        epochs, batch_size, learning_rate: the defaults of those options.

    Returns:
        ``parser``.
    """
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data-dir", help="TFDS data directory (default: ~/tensorflow_datasets)"
    )
    data.add_argument(
        "--manual-dir",
        help="folder with the manually downloaded source files "
        "(default: <data-dir>/downloads/manual)",
    )
    data.add_argument(
        "--no-download",
        dest="download",
        action="store_false",
        help="never touch the network: prepare the dataset from --manual-dir only",
    )
    train = parser.add_argument_group("training")
    train.add_argument(
        "--epochs", type=int, default=epochs, help="(default: %(default)s)"
    )
    train.add_argument(
        "--batch-size",
        type=int,
        default=batch_size,
        help="global batch size, over all replicas (default: %(default)s)",
    )
    train.add_argument(
        "--learning-rate",
        type=float,
        default=learning_rate,
        help="Adam's initial learning rate (default: %(default)s)",
    )
    train.add_argument(
        "--lr-decay",
        type=float,
        default=0.94,
        help="learning-rate factor per epoch after the burn-in (default: %(default)s)",
    )
    train.add_argument(
        "--lr-burn-in",
        type=int,
        default=40,
        help="epochs at the initial learning rate (default: %(default)s)",
    )
    train.add_argument(
        "--steps-per-epoch", type=int, help="limit the steps per epoch (smoke tests)"
    )
    train.add_argument(
        "--eval-steps", type=int, help="limit the validation and test batches"
    )
    train.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    train.add_argument(
        "--output-dir",
        help="checkpoints, backups (resume), TensorBoard logs, exported models",
    )
    train.add_argument(
        "--no-export", dest="export", action="store_false", help="skip the export"
    )
    train.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=1 if sys.stdout.isatty() else 2,
        help="Keras verbosity: 1 progress bar, 2 one line per epoch",
    )
    dist = parser.add_argument_group("hardware")
    dist.add_argument(
        "--strategy",
        choices=("default", "mirrored", "multiworker"),
        default="default",
        help="tf.distribute strategy: mirrored = all local GPUs, multiworker = the "
        "cluster of the TF_CONFIG environment variable (default: %(default)s)",
    )
    dist.add_argument(
        "--mixed-precision",
        action="store_true",
        help="float16 compute on GPUs, bfloat16 on CPUs (variables stay float32)",
    )
    # Split the CPU into N logical devices, so that --strategy mirrored has replicas
    # to mirror over on a machine without GPUs (tests, debugging).
    dist.add_argument("--cpu-devices", type=int, help=argparse.SUPPRESS)
    return parser


def prepare_dataset(name, data_dir=None, manual_dir=None, download=True, files=()):
    """A prepared TFDS builder of one of the package's datasets.

    Prepares the dataset on first use, from ``manual_dir`` or, if ``download``, by
    letting the builder fetch the files missing there.  Needs the ``data`` extra.

    Args:
        name: ``"<dataset>/<config>"``, e.g. ``"cath/10arch"``.
        data_dir: TFDS data directory (default: ``~/tensorflow_datasets``).
        manual_dir: folder of manually downloaded source files (default:
            ``<data_dir>/downloads/manual``).
        download: whether the builder may download what ``manual_dir`` lacks.
        files: the source files the builder needs in ``manual_dir``.

    Returns:
        The ``tfds`` builder, prepared.

    Raises:
        SetupError: with the builder's download instructions, if files are
            missing and ``download`` is False, or if preparing fails (a file that
            is missing, truncated or in the wrong format).
    """
    import tensorflow_datasets as tfds

    import keras_se3.datasets  # noqa: F401  (registers the builders)

    builder = tfds.builder(name, data_dir=data_dir)
    if builder.is_prepared():
        return builder
    manual = manual_dir or os.path.join(builder.data_dir_root, "downloads", "manual")
    missing = [f for f in files if not os.path.exists(os.path.join(manual, f))]
    if missing and not download:
        raise SetupError(
            f"the dataset {name} is not prepared in {builder.data_dir_root}, and the "
            f"manual download directory {manual} lacks {', '.join(missing)}. "
            f"{builder.MANUAL_DOWNLOAD_INSTRUCTIONS.strip()} Then rerun with "
            "--manual-dir (or without --no-download to let TFDS try the download)."
        )
    if missing:
        print(f"{', '.join(missing)} not in {manual}: trying to download them.")
    print(f"preparing {name} in {builder.data_dir_root} (once) ...")
    config = tfds.download.DownloadConfig(manual_dir=manual)
    try:
        builder.download_and_prepare(download_config=config)
    except (FileNotFoundError, ValueError, AssertionError) as error:
        raise SetupError(f"could not prepare {name}: {error}") from error
    return builder


def subset(dataset, fraction):
    """Every ``fraction``-th example of ``dataset``, starting with the first.

    Deterministic: TFDS reads a split in a fixed order, so the subset is the same in
    every run (the paper's data-efficiency curve, ``--train-fraction``).
    """
    return dataset if fraction == 1 else dataset.shard(fraction, 0)


def first_examples(dataset, count):
    """The inputs of the first ``count`` examples of a batched ``(x, y)`` dataset.

    Taken from its first batch, as a float32 numpy array (the export's check inputs).
    """
    x, _ = next(iter(dataset))
    return np.asarray(x[:count], dtype="float32")


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


def save_trained(build_model, trained, path):
    """Save the trained model as a float32 ``.keras`` file at ``path``.

    The model is rebuilt in float32 outside any distribution strategy and gets the
    trained weights (mixed-precision variables are float32 already).

    Args:
        build_model: a function of no arguments returning a new model of the same
            architecture.
        trained: the trained model.
        path: the ``.keras`` file.

    Returns:
        The float32 model.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")  # for this build only
    try:
        model = build_model()
    finally:
        keras.config.set_dtype_policy(previous)
    model.set_weights(trained.get_weights())
    model.save(path)
    return model


def export_trained(model, paths, sample, tolerance=1e-3):
    """Save ``model`` collapsed (``.keras``) and as ONNX, checking both.

    The collapsed model is checked against ``model``, and the ONNX file (run by
    onnxruntime) against the collapsed model, on ``sample``: relative errors above
    ``tolerance`` raise ``keras_se3.export.ExportCheckError``.  (Float32 rounding
    through a deep net reaches ~1e-4 when the activations are large; an export bug
    shows as O(1).)

    Args:
        model: the trained float32 model (from :func:`save_trained`).
        paths: from :func:`output_paths` (``collapsed``, ``onnx``).
        sample: a batch of inputs for the checks.
        tolerance: largest accepted relative error.

    Returns:
        ``{"collapse": error, "onnx": error, "seconds": time}``.
    """
    from keras_se3.export import ExportCheckError, to_onnx
    from keras_se3.export.exporters import relative_error

    start = time.perf_counter()
    collapsed = keras_se3.collapse(model)
    collapsed.save(paths["collapsed"])
    reference = model(sample, training=False)
    errors = {"collapse": float(relative_error([reference], [collapsed(sample)]))}
    if not errors["collapse"] <= tolerance:
        raise ExportCheckError(
            f"the collapsed model differs from the trained one: relative error "
            f"{errors['collapse']:.2g} > {tolerance:g}"
        )
    errors["onnx"] = float(
        to_onnx(
            collapsed,
            paths["onnx"],
            collapse=False,
            check=True,
            check_inputs=[sample],
            tolerance=tolerance,
        )
    )
    errors["seconds"] = round(time.perf_counter() - start, 1)
    return errors


def write_summary(paths, summary):
    """Write ``summary`` (a dict) as JSON to ``paths["summary"]``."""
    with open(paths["summary"], "w") as f:
        json.dump(summary, f, indent=2)


def build_before_tracing(model):
    """Create the optimizer's and the compiled metrics' variables of a compiled
    classifier now, not inside its first traced training step.

    Without a ``tf.distribute`` strategy Keras creates them in that trace, and
    TensorFlow then traces the step a second time: the CATH ResNet's first step took
    twice its ~25 s of tracing.  (Under a strategy Keras builds them itself.)
    """
    import tensorflow as tf

    model.optimizer.build(model.trainable_variables)
    if tf.distribute.has_strategy():
        return
    logits = np.zeros((1,) + tuple(model.output_shape[1:]), "float32")
    model.compute_metrics(None, np.zeros((1,), "int32"), logits, sample_weight=None)
    model.reset_metrics()


def train_evaluate_export(args, *, strategy, title, build_model, data, final_split):
    """Fit with resume and checkpoints, evaluate on ``final_split``, export, report.

    Args:
        args: the parsed command line (:func:`add_training_arguments`).
        strategy: from :func:`make_strategy`.
        title: what is trained, for the report.
        build_model: a function returning a new float32-logit model.
        data: ``{split: (dataset, number of examples)}`` for "train",
            "validation" and ``final_split``.
        final_split: the split of the final evaluation ("test").

    Returns:
        The summary dict (also written to ``summary.json``).
    """
    paths = output_paths(args.output_dir)
    done = completed_epochs(paths)
    seen = values_on_every_replica(strategy, done)
    if len(set(seen)) > 1:
        raise SetupError(
            f"the workers found different backups to resume from ({seen} epochs "
            f"done, per replica): --output-dir ({args.output_dir}) must be one "
            "folder that every worker shares (a network file system or bucket), "
            "the same path on each"
        )
    if done:
        print(
            f"resuming from the backup in {paths['backup']}: {done} epoch(s) done, "
            f"training up to epoch {args.epochs} (use a new --output-dir to start over)"
        )
    else:
        print(f"new run in {paths['root']}")
    mixed = keras.mixed_precision.global_policy().name != "float32"
    with strategy.scope():
        model = build_model()
        if mixed:
            model = float32_logits(model)
        model.compile(
            # The paper's Adam (epsilon after the bias correction): Keras's
            # shrinks the steps of the small coefficient gradients.
            optimizer=keras_se3.optimizers.Adam(args.learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        build_before_tracing(model)
    print(f"model {model.name}: {trainable_parameters(model):,} trainable parameters")

    schedule = learning_rate_schedule(
        args.learning_rate, args.lr_decay, args.lr_burn_in
    )
    timer = StepTimer()
    # Split by example between the workers of a cluster (tf.distribute splits
    # by file by default, and a small split is one file).
    data = {split: (shard_by_example(d), n) for split, (d, n) in data.items()}
    train, num_train = data["train"]
    if args.steps_per_epoch or strategy.num_replicas_in_sync > 1:
        if not args.steps_per_epoch and num_train < args.batch_size:
            # Not repeated: full batches only would leave no batch at all.
            raise SetupError(
                f"the training split has {num_train} examples, fewer than one "
                f"batch (--batch-size {args.batch_size}): lower --batch-size."
            )
        train = full_batches(train, args.batch_size, repeat=bool(args.steps_per_epoch))
    start = time.perf_counter()
    history = model.fit(
        train,
        validation_data=data["validation"][0],
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        validation_steps=args.eval_steps,
        callbacks=make_callbacks(paths, schedule) + [timer],
        verbose=args.verbose,
        shuffle=False,  # the pipeline shuffles
    )
    train_seconds = time.perf_counter() - start

    test, num_test = data[final_split]
    results = model.evaluate(test, steps=args.eval_steps, verbose=0, return_dict=True)
    summary = {
        "title": title,
        "model": model.name,
        "trainable_parameters": trainable_parameters(model),
        "replicas": strategy.num_replicas_in_sync,
        "dtype_policy": keras.mixed_precision.global_policy().name,
        "epochs": args.epochs,
        "resumed_after_epoch": done,
        "epochs_this_run": len(history.epoch),
        "train_examples": num_train,
        "train_seconds": round(train_seconds, 1),
        "step_seconds": [round(t, 3) for t in timer.times],
        "validation_accuracy": history.history.get("val_accuracy", [None])[-1],
        "best_validation_accuracy": best_so_far(paths, "val_accuracy"),
        f"{final_split}_accuracy": float(results["accuracy"]),
        f"{final_split}_loss": float(results["loss"]),
        f"{final_split}_examples": num_test,
    }
    if is_chief():
        # The trained weights are saved with or without --no-export.
        trained = save_trained(build_model, model, paths["model"])
        if args.export:
            sample = first_examples(test, 2)
            summary["export_errors"] = export_trained(trained, paths, sample)
    if is_chief():
        write_summary(paths, summary)

    def fmt(value):
        return "n/a" if value is None else f"{value:.3f}"

    resumed = f", resumed after epoch {done}" if done else ""
    lines = [
        f"run:                 {title}",
        f"model:               {model.name}, {summary['trainable_parameters']:,} "
        f"trainable parameters, {summary['replicas']} replica(s), "
        f"{summary['dtype_policy']}",
        f"training:            {len(history.epoch)} epoch(s) in this run{resumed}, "
        f"{args.epochs} in all; {num_train} training examples; "
        f"{train_seconds:.0f} s; {timer.describe()}",
        f"during training:     val_accuracy {fmt(summary['validation_accuracy'])} "
        f"(last epoch), best {fmt(summary['best_validation_accuracy'])} -> "
        f"{paths['best']}",
        f"{final_split} accuracy:".ljust(21)
        + f"{results['accuracy']:.3f} ({num_test} examples, loss "
        f"{results['loss']:.3f})",
    ]
    if "export_errors" in summary:
        errors = summary["export_errors"]
        lines.append(
            f"export:              {paths['model']}, {paths['collapsed']} (relative "
            f"error {errors['collapse']:.1e}), {paths['onnx']} (onnxruntime, "
            f"{errors['onnx']:.1e}); {errors['seconds']:.0f} s"
        )
    elif is_chief():
        lines.append(f"trained model:       {paths['model']} (--no-export: no other)")
    lines.append(f"output:              {paths['root']}")
    print("\n" + "=" * 30 + " summary " + "=" * 30)
    print("\n".join(lines))
    return summary
