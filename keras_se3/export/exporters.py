"""Export to a TensorFlow SavedModel and to ONNX (collapsed first, by default)."""

import os

import keras
import numpy as np

from keras_se3.export.collapse import collapse as collapse_model


class ExportCheckError(RuntimeError):
    """The exported artefact does not reproduce the Keras model."""


def input_names(model):
    """Names of the model's inputs (the ``keras.Input`` names)."""
    return [t.name for t in model.inputs]


def output_names(model):
    """Names of the model's outputs: the names of the layers producing them."""
    if isinstance(model, keras.Sequential):
        layers = [model.layers[-1].name]
    else:
        layers = getattr(model, "output_names", None) or []
    names = []
    for i, _ in enumerate(model.outputs):
        name = layers[i] if i < len(layers) else f"output_{i}"
        names.append(name if name not in names else f"{name}_{i}")
    return names


def _signature(model, names):
    import tensorflow as tf

    return [
        tf.TensorSpec((None, *t.shape[1:]), tf.float32, name=name)
        for t, name in zip(model.inputs, names)
    ]


def sample_inputs(model, batch=2, spatial=9, seed=0):
    """Random float32 inputs for ``model``; unknown sizes become ``spatial``."""
    rng = np.random.default_rng(seed)
    arrays = []
    for t in model.inputs:
        shape = [batch] + [spatial if n is None else n for n in t.shape[1:]]
        arrays.append(rng.normal(size=shape).astype("float32"))
    return arrays


def relative_error(reference, value):
    """``max |value - reference| / max |reference|`` (over all outputs)."""
    reference = [np.asarray(r, "float64") for r in reference]
    value = [np.asarray(v, "float64") for v in value]
    scale = max(np.abs(r).max() for r in reference) or 1.0
    return max(np.abs(v - r).max() for r, v in zip(reference, value)) / scale


def _reference(model, inputs):
    outputs = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    return [np.asarray(o) for o in keras.tree.flatten(outputs)]


def _check(label, reference, value, tolerance):
    error = relative_error(reference, value)
    if not error <= tolerance:
        raise ExportCheckError(
            f"{label} differs from the Keras model: relative error {error:.3g} > "
            f"{tolerance:g}."
        )
    return error


def _require_backend(function, backends):
    """A clear error where the export cannot run on this Keras backend."""
    backend = keras.backend.backend()
    if backend not in backends:
        raise RuntimeError(
            f"keras_se3.export.{function} needs the {' or '.join(backends)} "
            f"Keras backend; this process runs {backend!r}. The model itself is "
            "backend-independent: model.save('model.keras'), then load it in a "
            "process started with KERAS_BACKEND=tensorflow and export there."
        )


def _prepare(model, collapse):
    if not isinstance(model, keras.Model):
        raise ValueError(f"Expected a keras.Model, got {type(model).__name__}.")
    return collapse_model(model) if collapse else model


def to_saved_model(
    model,
    path,
    collapse=True,
    check=False,
    check_inputs=None,
    tolerance=1e-5,
    input_names=None,
    output_names=None,
):
    """Export ``model`` as a TensorFlow SavedModel (inference mode).

    The SavedModel has one signature, ``serving_default`` (also the function
    ``serve``), with a dynamic batch dimension, inputs named after the model's
    ``keras.Input`` s and a dict of outputs named after the output layers.

    Args:
        model: a keras_se3 (or any Sequential / functional) Keras model.
        path: directory to write.
        collapse: first :func:`keras_se3.collapse` the model (stock ops only).
        check: load the SavedModel with ``tf.saved_model.load``, run it on
            ``check_inputs`` (default: random, batch 2, unknown spatial sizes 9)
            and compare with ``model``; raise :class:`ExportCheckError` if the
            relative error exceeds ``tolerance``.
        input_names, output_names: override the names.

    Returns:
        The relative error of the check (``None`` without ``check``).

    Raises:
        RuntimeError: on the PyTorch backend (Keras cannot write a SavedModel
            from PyTorch; TensorFlow and JAX can).
    """
    import tensorflow as tf

    _require_backend("to_saved_model", ("tensorflow", "jax"))
    exported = _prepare(model, collapse)
    in_names = input_names or _input_names(model)
    out_names = output_names or _output_names(model)
    signature = _signature(exported, in_names)

    def serve(*inputs):
        outputs = exported(inputs if len(inputs) > 1 else inputs[0], training=False)
        return dict(zip(out_names, keras.tree.flatten(outputs)))

    archive = keras.export.ExportArchive()
    archive.track(exported)
    archive.add_endpoint("serve", serve, input_signature=signature)
    archive.write_out(os.fspath(path), verbose=False)
    if not check:
        return None
    inputs = check_inputs or sample_inputs(exported)
    loaded = tf.saved_model.load(os.fspath(path))
    function = loaded.signatures["serving_default"]
    result = function(**{n: tf.constant(x) for n, x in zip(in_names, inputs)})
    value = [np.asarray(result[n]) for n in out_names]
    return _check("The SavedModel", _reference(model, inputs), value, tolerance)


def to_onnx(
    model,
    path,
    opset=17,
    collapse=True,
    check=False,
    check_inputs=None,
    tolerance=1e-5,
    input_names=None,
    output_names=None,
):
    """Export ``model`` to an ONNX file (via tf2onnx), with a dynamic batch axis.

    Graph inputs are named after the model's ``keras.Input`` s, graph outputs
    after its output layers; the batch axis is symbolic (``"batch"``).  With
    ``collapse=True`` (default) the graph contains only standard ONNX ops
    (Conv, ConvTranspose, MatMul, AveragePool, Pad, Slice, Mul, Add, Sigmoid,
    Relu, ...), no Einsum and no basis tensor.

    Args:
        model: a keras_se3 (or any Sequential / functional) Keras model.
        path: the ``.onnx`` file to write.
        opset: ONNX opset version.
        collapse: first :func:`keras_se3.collapse` the model.
        check: run the file with onnxruntime on ``check_inputs`` (default:
            random inputs with batch 1 and 2, unknown spatial sizes 9) and compare
            with ``model``; raise :class:`ExportCheckError` if the relative error
            exceeds ``tolerance``.
        input_names, output_names: override the names.

    Returns:
        The largest relative error of the check (``None`` without ``check``).

    Raises:
        RuntimeError: on a Keras backend other than TensorFlow (tf2onnx
            converts TensorFlow graphs).
    """
    import tensorflow as tf

    _require_backend("to_onnx", ("tensorflow",))

    try:
        import onnx
        import tf2onnx
    except ImportError as error:
        raise ImportError(
            "ONNX export needs tf2onnx and onnx: pip install 'keras-se3[export]'."
        ) from error
    from keras.src.export.tf2onnx_lib import patch_tf2onnx

    exported = _prepare(model, collapse)
    in_names = input_names or _input_names(model)
    out_names = output_names or _output_names(model)
    signature = _signature(exported, in_names)

    @tf.function(input_signature=signature)
    def function(*inputs):
        outputs = exported(inputs if len(inputs) > 1 else inputs[0], training=False)
        return keras.tree.flatten(outputs)

    patch_tf2onnx()  # numpy 2 compatibility of tf2onnx 1.17, as Keras does
    proto = _convert_to_onnx(tf2onnx, function, signature, opset)
    _rename_outputs(proto, out_names)
    for value in proto.graph.input:
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].dim_param = "batch"
    onnx.save(proto, os.fspath(path))
    if not check:
        return None
    import onnxruntime

    session = onnxruntime.InferenceSession(
        os.fspath(path), providers=["CPUExecutionProvider"]
    )
    batches = (
        [check_inputs]
        if check_inputs
        else [
            sample_inputs(exported, batch=1),
            sample_inputs(exported, batch=2, seed=1),
        ]
    )
    errors = []
    for inputs in batches:
        value = session.run(out_names, dict(zip(in_names, inputs)))
        errors.append(
            _check("The ONNX model", _reference(model, inputs), value, tolerance)
        )
    return max(errors)


def _convert_to_onnx(tf2onnx, function, signature, opset):
    """tf2onnx's conversion, first without its optimizers' safety copies.

    By default tf2onnx deep-copies the whole graph before each of its ~36
    optimizer passes, so that a pass that fails can be skipped: 40 % of the
    conversion of the CATH ResNet.  ``TF2ONNX_CATCH_ERRORS=FALSE`` turns that
    off; then a failing pass raises, and the conversion runs again from the
    start with tf2onnx's defaults (so a failing pass costs time, never the export).
    """
    variable = "TF2ONNX_CATCH_ERRORS"
    before = os.environ.get(variable)
    os.environ[variable] = "FALSE"
    try:
        proto, _ = tf2onnx.convert.from_function(function, signature, opset=opset)
        return proto
    except Exception:  # noqa: BLE001 (a pass failed: convert with tf2onnx's defaults)
        pass
    finally:
        if before is None:
            del os.environ[variable]
        else:
            os.environ[variable] = before
    proto, _ = tf2onnx.convert.from_function(function, signature, opset=opset)
    return proto


def _rename_outputs(proto, names):
    """Give the graph outputs the names ``names`` (rewiring their producers)."""
    renames = {}
    for value, name in zip(proto.graph.output, names):
        renames[value.name] = name
        value.name = name
    for node in proto.graph.node:
        for i, name in enumerate(node.output):
            if name in renames:
                node.output[i] = renames[name]
        for i, name in enumerate(node.input):
            if name in renames:
                node.input[i] = renames[name]


def onnx_op_types(path):
    """The set of op types in an ONNX file (its main graph)."""
    import onnx

    return {node.op_type for node in onnx.load(os.fspath(path)).graph.node}


_input_names = input_names
_output_names = output_names
