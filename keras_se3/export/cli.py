"""``keras-se3 export MODEL.keras --onnx OUT.onnx --saved-model DIR [--check]``."""

import argparse
import os
import sys
import time


def _parser():
    parser = argparse.ArgumentParser(
        prog="keras-se3",
        description="keras_se3 command line tools.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser(
        "export",
        help="collapse a trained .keras model to stock layers and export it",
        description=(
            "Collapse a trained keras_se3 model (.keras file) to stock Keras "
            "layers and export it as ONNX and/or a TensorFlow SavedModel."
        ),
    )
    export.add_argument("model", help="the trained model, a .keras file")
    export.add_argument("--onnx", metavar="OUT.onnx", help="write an ONNX file")
    export.add_argument(
        "--saved-model", metavar="DIR", help="write a TensorFlow SavedModel directory"
    )
    export.add_argument(
        "--keras", metavar="OUT.keras", help="also save the collapsed Keras model"
    )
    export.add_argument("--opset", type=int, default=17, help="ONNX opset (17)")
    export.add_argument(
        "--check",
        action="store_true",
        help="run the exported artefacts on random input and compare with the model",
    )
    export.add_argument(
        "--check-size",
        type=int,
        default=9,
        help="spatial size of the random check input where the model's is unknown",
    )
    return parser


def _status(message):
    print(f"keras-se3: {message}", flush=True)


class _Failure(Exception):
    pass


def _export(args):
    if not args.onnx and not args.saved_model and not args.keras:
        raise _Failure("nothing to do: give --onnx, --saved-model and/or --keras.")
    if not os.path.isfile(args.model):
        raise _Failure(f"model file not found: {args.model}")
    start = time.perf_counter()
    import keras

    import keras_se3  # noqa: F401  (registers the layers for loading)
    from keras_se3.export import collapse, exporters

    _status(f"loading {args.model}")
    try:
        model = keras.saving.load_model(args.model)
    except Exception as error:  # noqa: BLE001 - any load failure is reported
        raise _Failure(
            f"cannot load {args.model} as a Keras model ({type(error).__name__}: "
            f"{error})"
        ) from error
    if not any(
        type(layer).__module__.startswith("keras_se3") for layer in _layers(model)
    ):
        raise _Failure(
            f"{args.model} is not a keras_se3 model (it has no keras_se3 layer); "
            "export plain Keras models with model.export(...)."
        )
    _status(f"collapsing {model.name} ({len(model.layers)} layers)")
    try:
        collapsed = collapse(model)
    except ValueError as error:
        raise _Failure(str(error)) from error
    _status(f"collapsed to {len(collapsed.layers)} stock Keras layers")
    sample = exporters.sample_inputs(model, batch=2, spatial=args.check_size)
    if args.keras:
        collapsed.save(args.keras)
        _status(f"wrote {args.keras}")
    if args.saved_model:
        error = _run(
            "SavedModel",
            exporters.to_saved_model,
            collapsed,
            args.saved_model,
            collapse=False,
            check=args.check,
            check_inputs=sample,
        )
        _report("SavedModel", args.saved_model, error, model, collapsed, sample)
    if args.onnx:
        error = _run(
            "ONNX",
            exporters.to_onnx,
            collapsed,
            args.onnx,
            opset=args.opset,
            collapse=False,
            check=args.check,
            check_inputs=sample,
        )
        _report("ONNX", args.onnx, error, model, collapsed, sample)
    _status(f"done in {time.perf_counter() - start:.1f} s")


def _layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _layers(layer)


def _run(label, function, *args, **kwargs):
    from keras_se3.export.exporters import ExportCheckError

    _status(f"exporting {label}")
    try:
        return function(*args, **kwargs)
    except ExportCheckError as error:
        raise _Failure(f"{label} check failed: {error}") from error
    except ImportError as error:
        raise _Failure(str(error)) from error
    except Exception as error:  # noqa: BLE001 - e.g. an op tf2onnx cannot convert
        raise _Failure(
            f"{label} export failed ({type(error).__name__}: {error})"
        ) from error


def _report(label, path, error, model, collapsed, sample):
    _status(f"wrote {label} {path}")
    if error is None:
        return
    # The exporters compared with the collapsed model; add the original model.
    from keras_se3.export.exporters import relative_error

    x = sample if len(sample) > 1 else sample[0]
    drift = relative_error([model(x, training=False)], [collapsed(x, training=False)])
    _status(
        f"check {label}: relative error {error:.2e} vs the collapsed model, "
        f"collapsed vs original {drift:.2e}"
    )
    if not drift <= 1e-5:
        raise _Failure(f"the collapsed model differs from the original: {drift:.3g}")


def main(argv=None):
    """Entry point of the ``keras-se3`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "export":
            _export(args)
    except _Failure as failure:
        print(f"keras-se3: error: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
