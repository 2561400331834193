"""Export of a trained model and the whole train / evaluate / export run."""

import json
import time

import keras

import keras_se3.optimizers
from keras_se3.training.callbacks import (
    StepTimer,
    best_so_far,
    completed_epochs,
    learning_rate_schedule,
    make_callbacks,
    output_paths,
    trainable_parameters,
)
from keras_se3.training.cli import SetupError
from keras_se3.training.data import first_examples, shard_by_example
from keras_se3.training.distribute import (
    float32_logits,
    is_chief,
    values_on_every_replica,
)


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


def full_batches(batches, batch_size, repeat):
    """``batches`` rebatched to full batches only, repeated without end if asked.

    Repeating batched data would repeat the split's last, partial batch (3
    examples in batches of 2: 2, 1, 2, 1, ...), and with several replicas a
    partial batch can leave one of them no example at all.  tf.distribute takes
    every batch of an endless dataset to be full, and an empty share breaks the
    traced step: TensorFlow's Conv3D returns an empty input unchanged, and the
    synchronized batch norm after it all-reduces statistics of the wrong size
    ("Shape mismatch in the collective instance").  The dropped remainder is
    different examples each epoch where the pipeline shuffles.
    """
    batches = batches.unbatch()
    if repeat:
        batches = batches.repeat()
    return batches.batch(batch_size, drop_remainder=True).prefetch(-1)


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
        # Its variables now, not in the first traced step: TensorFlow would
        # trace that step a second time once they exist.
        model.optimizer.build(model.trainable_variables)
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
    if args.export and is_chief():
        sample = first_examples(test, 2)
        summary["export_errors"] = export_trained(build_model, model, paths, sample)
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
    lines.append(f"output:              {paths['root']}")
    print("\n" + "=" * 30 + " summary " + "=" * 30)
    print("\n".join(lines))
    return summary
