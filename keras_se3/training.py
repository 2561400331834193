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

Where this code lives (a decision, issue 24): it was ``examples/common.py``, a
training framework among the examples that the tests imported through a
``sys.path`` insert.  It is reusable, tested code, so it moved into the package,
here, with its tests in ``tests/test_training.py``; the scripts in ``examples/``
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

import argparse
import csv
import importlib.util
import json
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

import keras_se3.optimizers

__all__ = [
    "SetupError",
    "StepTimer",
    "add_training_arguments",
    "best_so_far",
    "completed_epochs",
    "export_trained",
    "first_examples",
    "float32_logits",
    "is_chief",
    "learning_rate_schedule",
    "make_callbacks",
    "make_strategy",
    "output_paths",
    "prepare_dataset",
    "read_tf_config",
    "run_main",
    "set_mixed_precision",
    "split_cpu",
    "subset",
    "train_evaluate_export",
    "trainable_parameters",
    "write_summary",
]


class SetupError(RuntimeError):
    """A problem with the command line, the environment or the data.

    :func:`run_main` reports it in one line, without a traceback: the message says
    what is wrong and how to fix it.
    """


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


# --- command line ---------------------------------------------------------------------


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


# --- strategy and precision -----------------------------------------------------------


def split_cpu(count):
    """Make ``count`` logical CPU devices; must run before TensorFlow runs any op.

    Gives ``--strategy mirrored`` replicas to mirror over on a machine without GPUs
    (tests, debugging).

    Raises:
        SetupError: if TensorFlow has already initialised its devices.
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError as error:
        raise SetupError(f"cannot split the CPU after TF started: {error}") from error


def read_tf_config():
    """The parsed ``TF_CONFIG`` environment variable, checked.

    Returns:
        The dict, or None if ``TF_CONFIG`` is unset or empty.

    Raises:
        SetupError: if it is not JSON, lacks a ``cluster`` or a ``task``, or the
            task is not a member of the cluster.
    """
    text = os.environ.get("TF_CONFIG")
    if not text:
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise SetupError(f"TF_CONFIG is not valid JSON ({error}): {text!r}") from error
    example = (
        'e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
        '"task": {"type": "worker", "index": 0}}'
    )
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise SetupError(f"TF_CONFIG needs a 'cluster' and a 'task' ({example})")
    kind, index = task.get("type"), task.get("index")
    members = cluster.get(kind)
    if not isinstance(members, list) or not isinstance(index, int):
        raise SetupError(
            f"TF_CONFIG's task {task} is not in its cluster {cluster} ({example})"
        )
    if not 0 <= index < len(members):
        raise SetupError(
            f"TF_CONFIG's task index {index} is out of range: the cluster has "
            f"{len(members)} {kind}(s)"
        )
    return config


def is_chief():
    """Whether this process writes the checkpoints and exports (one per cluster).

    The ``chief`` task if the cluster has one, else worker 0; True without
    ``TF_CONFIG``.
    """
    config = read_tf_config()
    if config is None:
        return True
    kind, index = config["task"]["type"], config["task"]["index"]
    if "chief" in config["cluster"]:
        return kind == "chief"
    return kind == "worker" and index == 0


def make_strategy(name, cpu_devices=None):
    """A ``tf.distribute`` strategy by name; call it before any other TF work.

    Args:
        name: ``"default"`` (no distribution), ``"mirrored"`` (all local GPUs, or
            the logical CPU devices) or ``"multiworker"`` (the cluster of
            ``TF_CONFIG``; a single local worker without it).
        cpu_devices: if given, first split the CPU into this many logical devices
            (:func:`split_cpu`).

    Returns:
        The strategy (its name and replicas are printed).

    Raises:
        SetupError: for an unknown name or a bad ``TF_CONFIG``.
    """
    if cpu_devices:
        split_cpu(cpu_devices)
    if name == "default":
        strategy = tf.distribute.get_strategy()
    elif name == "mirrored":
        devices = None  # all GPUs, or the CPU
        if not tf.config.list_logical_devices("GPU"):
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices)
    elif name == "multiworker":
        config = read_tf_config()
        if config is None:
            print("TF_CONFIG is not set: multiworker runs as a single local worker.")
        else:
            task = config["task"]
            print(
                f"TF_CONFIG: cluster {config['cluster']}; this process is "
                f"{task['type']} {task['index']}" + (" (chief)" if is_chief() else "")
            )
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        raise SetupError(f"unknown strategy {name!r}")
    devices = ()
    if name != "default":
        devices = [d.split("/")[-1] for d in strategy.extended.worker_devices]
    print(
        f"strategy: {name} ({type(strategy).__name__}), "
        f"{strategy.num_replicas_in_sync} "
        f"replica(s) {' '.join(devices)}".rstrip()
    )
    return strategy


def set_mixed_precision(enabled):
    """Set Keras's global dtype policy.

    Args:
        enabled: False: ``"float32"``; True: ``"mixed_float16"`` if there is a GPU,
            else ``"mixed_bfloat16"`` (variables stay float32 either way).

    Returns:
        The policy's name.
    """
    if not enabled:
        policy = "float32"
    elif tf.config.list_logical_devices("GPU"):
        policy = "mixed_float16"
    else:
        policy = "mixed_bfloat16"
    keras.mixed_precision.set_global_policy(policy)
    if enabled:
        print(f"mixed precision: {policy} (variables and logits in float32)")
    if policy == "mixed_bfloat16":
        # Seen with TensorFlow 2.21 (oneDNN): the bfloat16 Conv3D filter gradient
        # is garbage, sometimes NaN, for feature maps smaller than the kernel.
        print(
            "warning: TensorFlow's bfloat16 Conv3D weight gradients on CPU are wrong "
            "where a feature map is smaller than the kernel (e.g. 2^3 maps, kernel "
            "3): keep every feature map at least kernel-sized, or train in float32."
        )
    return policy


def float32_logits(model):
    """``model`` with its first output cast to float32.

    Under mixed precision the last layer computes in float16/bfloat16; the loss
    should see float32 logits.  The returned functional model shares ``model``'s
    layers and weights and keeps its name.
    """
    logits = keras.layers.Activation("linear", dtype="float32", name="logits_float32")
    return keras.Model(model.input, logits(model.outputs[0]), name=model.name)


# --- data -----------------------------------------------------------------------------


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


# --- training -------------------------------------------------------------------------


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

    Non-chief workers of a multi-worker cluster write under
    ``<output_dir>/worker_<type>_<index>`` instead, so that they never overwrite
    the chief's files.

    Returns:
        A dict of paths: ``root``, ``backup`` (resume), ``logs`` (TensorBoard),
        ``best``, ``history``, ``model``, ``collapsed``, ``onnx``, ``summary``.
    """
    worker = (
        "" if is_chief() else "worker_{type}_{index}".format(**read_tf_config()["task"])
    )
    root = os.path.join(output_dir, worker) if worker else output_dir
    os.makedirs(root, exist_ok=True)
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

    ``BackupAndRestore`` in ``paths["backup"]``, the learning-rate ``schedule``, the
    best ``monitor`` (max) in ``paths["best"]`` (to beat the best of earlier runs),
    the CSV history in ``paths["history"]`` (appended) and, if TensorBoard is
    installed, its logs in ``paths["logs"]``.

    The backup is kept after training (``delete_checkpoint=False``): rerunning the
    same command resumes an interrupted run, and a larger ``--epochs`` extends a
    finished one.
    """
    callbacks = [
        keras.callbacks.BackupAndRestore(paths["backup"], delete_checkpoint=False),
        keras.callbacks.LearningRateScheduler(schedule),
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


# --- export ---------------------------------------------------------------------------


def export_trained(build_model, trained, paths, sample, tolerance=1e-3):
    """Save the trained model as float32 ``.keras``, collapsed ``.keras`` and ONNX.

    The model is rebuilt in float32 outside any distribution strategy and gets the
    trained weights (mixed-precision variables are float32 already).  The collapsed
    model is checked against it, and the ONNX file (run by onnxruntime) against the
    collapsed model, on ``sample``: relative errors above ``tolerance`` raise
    ``keras_se3.export.ExportCheckError``.  (Float32 rounding through a deep net
    reaches ~1e-4 when the activations are large; an export bug shows as O(1).)

    Args:
        build_model: a function of no arguments returning a new model of the same
            architecture.
        trained: the trained model.
        paths: from :func:`output_paths` (``model``, ``collapsed``, ``onnx``).
        sample: a batch of inputs for the checks.
        tolerance: largest accepted relative error.

    Returns:
        ``{"collapse": error, "onnx": error, "seconds": time}``.
    """
    import keras_se3
    from keras_se3.export import ExportCheckError, to_onnx
    from keras_se3.export.exporters import relative_error

    start = time.perf_counter()
    keras.mixed_precision.set_global_policy("float32")
    model = build_model()
    model.set_weights(trained.get_weights())
    model.save(paths["model"])
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


# --- the whole run --------------------------------------------------------------------


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
    print(f"model {model.name}: {trainable_parameters(model):,} trainable parameters")

    schedule = learning_rate_schedule(
        args.learning_rate, args.lr_decay, args.lr_burn_in
    )
    timer = StepTimer()
    train, num_train = data["train"]
    if args.steps_per_epoch:
        train = train.repeat()
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
    if args.export and is_chief():
        sample = first_examples(test, 2)
        summary["export_errors"] = export_trained(build_model, model, paths, sample)
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
    lines.append(f"output:              {paths['root']}")
    print("\n" + "=" * 30 + " summary " + "=" * 30)
    print("\n".join(lines))
    return summary
