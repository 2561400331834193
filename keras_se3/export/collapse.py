"""`collapse`: a trained keras_se3 model as a model of stock Keras layers only.

Paper 4.4.3: after training, every steerable basis can be folded away and the
network becomes an ordinary 3D CNN.  Every keras_se3 layer knows its own
inference-mode equivalent made of stock Keras layers: its ``to_stock_keras()``
(see :class:`keras_se3.layers.field_layer.FieldLayer`) returns it as a small
functional model (``SE3Conv3D`` -> ``Conv3D`` with the assembled kernel, ``Gate``
-> fixed ``Dense`` selections, ``Activation``, ``Multiply``, ...).

:func:`collapse` only rebuilds the model's graph on new inputs, with public
Keras API: the calls of a functional model are recorded by
``keras.models.clone_model`` with stand-in operations, those of a Sequential
model by calling them in order.  Each call becomes

- for a layer with ``to_stock_keras`` (every keras_se3 layer, and any custom
  layer that implements it): the layers of its stock model, inlined;
- for a nested Sequential / functional model: its own calls, inlined;
- for a built-in Keras layer: a copy (same config and weights); for a
  ``keras.ops`` call: the same call.

One optimisation: a frozen ``BatchNormalization`` of a stock model (from
``FieldBatchNormalization``) is folded into the convolution of a stock model
before it (also through average pooling or cropping, which commute with a
per-channel affine map), where that convolution's output has no other user.
The result saves to ``.keras`` and loads with plain Keras (``safe_mode=True``)
without keras_se3.
"""

import collections

import keras
import numpy as np
from keras import tree

import keras_se3.layers.stock as stock

SUPPORTED = (
    "keras_se3 layers (and any layer with a to_stock_keras() method); Keras "
    "built-in layers except Lambda; keras.ops calls; nested Sequential / "
    "functional models"
)
_CONVOLUTIONS = (keras.layers.Conv3D, keras.layers.Conv3DTranspose)
# Commute with a per-channel affine map x * a + b (their weights sum to 1).
_PER_CHANNEL = (keras.layers.AveragePooling3D, keras.layers.Cropping3D)


def _cannot(op, reason):
    kind = "subclassed model" if isinstance(op, keras.Model) else "layer"
    return ValueError(
        f"keras_se3.collapse: {kind} {op.name!r} of type {type(op).__qualname__} "
        f"cannot be collapsed; {reason} Supported: {SUPPORTED}."
    )


def _unsupported(op):
    if isinstance(op, keras.Model):
        return _cannot(
            op,
            "it has no graph to walk. Rebuild it with the functional API "
            "(keras.Input ... keras.Model(inputs, outputs)) from the same layers.",
        )
    if hasattr(op, "to_stock_keras"):
        return _cannot(
            op,
            "its to_stock_keras() is not implemented. Implement it: return a "
            "functional model of built-in layers computing the layer in inference "
            "mode (see keras_se3.layers.field_layer.FieldLayer.to_stock_keras).",
        )
    if isinstance(op, keras.layers.Lambda):
        return _cannot(
            op,
            "a Lambda holds Python code, which the collapsed model could not load "
            "with safe_mode=True. Write its function as keras.ops calls on the "
            "tensors of a functional model (they are copied), or as built-in layers.",
        )
    return _cannot(
        op,
        "it is neither a keras_se3 layer nor built into Keras. Give it a "
        "to_stock_keras(input_shape=None, name=None) method returning a model of "
        "built-in layers (see keras_se3.layers.field_layer.FieldLayer), replace "
        "it by built-in layers, or collapse the part of the model before it and "
        "export the rest separately.",
    )


def _is_builtin(op):
    module = type(op).__module__
    return module == "keras" or module.startswith(("keras.", "keras.src."))


class _Recorder(keras.Operation):
    """Stands in for ``operation`` while a graph's calls are recorded."""

    def __init__(self, operation, calls):
        super().__init__(name=f"recorded_{operation.name}")
        self.operation, self.calls = operation, calls

    def compute_output_spec(self, *args, **kwargs):
        kwargs = {k: v for k, v in kwargs.items() if k not in ("training", "mask")}
        return self.operation.compute_output_spec(*args, **kwargs)

    def __call__(self, *args, **kwargs):
        outputs = super().__call__(*args, **kwargs)
        self.calls.append((self.operation, args, kwargs, outputs))
        return outputs


def _record(model):
    """``(inputs, calls, outputs)``: the calls of ``model`` in order, each
    ``(operation, args, kwargs, outputs)``, on stand-in tensors; flat inputs,
    outputs in the model's structure."""
    calls = []
    if isinstance(model, keras.Sequential):
        x = y = keras.Input(batch_shape=_inputs(model)[0].shape)
        for layer in model.layers:
            y = _Recorder(layer, calls)(y)
        return [x], calls, y
    copy = keras.models.clone_model(
        model, clone_function=lambda op: _Recorder(op, calls)
    )
    return copy.inputs, calls, copy.output


def _inputs(model):
    """The symbolic inputs of a Sequential or functional model."""
    try:
        return model.inputs
    except AttributeError:
        if isinstance(model, keras.Sequential):
            raise ValueError(
                "keras_se3.collapse needs a built Sequential model with a known "
                "input: start it with keras.Input(shape) (or call it once on data)."
            ) from None
        raise _unsupported(model) from None


class _Fold:
    """A convolution (of a stock model) and the per-channel layers after it."""

    def __init__(self, layers, inputs):
        self.layers, self.inputs = layers, inputs


class _Collapser:
    def __init__(self, fold):
        self.fold = fold
        self.names = set()
        self.fresh = {}  # id(new tensor) -> _Fold whose output it is, sole user next

    def name(self, base):
        name, index = base, 1
        while name in self.names:
            name, index = f"{base}_{index}", index + 1
        self.names.add(name)
        return name

    def graph(self, model, inputs, prefix, lowered):
        """``model``'s graph rebuilt on the new tensors ``inputs`` (flat list);
        returns the new outputs.  ``lowered``: a stock model of a layer."""
        graph_inputs, calls, graph_outputs = _record(model)
        users = collections.Counter(id(t) for t in tree.flatten(graph_outputs))
        for _, args, kwargs, _ in calls:
            users.update(id(t) for t in tree.flatten((args, kwargs)))
        new = {}

        def bind(t, value):
            new[id(t)] = value
            if users[id(t)] != 1:
                self.fresh.pop(id(value), None)  # folding would change other users

        for t, value in zip(graph_inputs, inputs):
            bind(t, value)
        for op, args, kwargs, outputs in calls:
            args, kwargs = tree.map_structure(
                lambda v: new.get(id(v), v) if isinstance(v, keras.KerasTensor) else v,
                (args, kwargs),
            )
            results = self.call(op, args, kwargs, prefix, lowered)
            for t, value in zip(tree.flatten(outputs), tree.flatten(results)):
                bind(t, value)
        return tree.map_structure(lambda t: new[id(t)], graph_outputs)

    def call(self, op, args, kwargs, prefix, lowered):
        if hasattr(op, "to_stock_keras"):
            if isinstance(getattr(op, "input_fields", None), list):  # several inputs
                xs = tree.flatten(args)
                shape = [x.shape[1:] for x in xs]
            else:
                xs = _single(op, args)
                shape = xs[0].shape[1:]
            try:
                stock = op.to_stock_keras(shape)
            except NotImplementedError:
                raise _unsupported(op) from None
            return self.graph(stock, xs, prefix, lowered=True)
        if isinstance(op, keras.Model):
            _inputs(op)  # a subclassed model raises
            inner = prefix if lowered else f"{prefix}{op.name}_"
            return self.graph(op, tree.flatten(args), inner, lowered)
        if isinstance(op, keras.layers.Lambda) or not _is_builtin(op):
            raise _unsupported(op)
        if not isinstance(op, keras.layers.Layer):
            return op(*args, **kwargs)  # a keras.ops call (e.g. `x + y`)
        x = args[0] if len(args) == 1 else None
        if (
            lowered
            and self.fold
            and isinstance(op, keras.layers.BatchNormalization)
            and id(x) in self.fresh
        ):
            return self.fold_batch_norm(self.fresh[id(x)], op)
        kwargs = {k: v for k, v in kwargs.items() if k not in ("training", "mask")}
        config = op.get_config()
        config["name"] = self.name(f"{prefix}{op.name}")
        try:
            copy = type(op).from_config(config)
        except Exception as error:
            raise _cannot(op, f"copying it from its config failed: {error}.") from error
        y = copy(*args, **kwargs)
        copy.set_weights(op.get_weights())
        if lowered and isinstance(copy, _CONVOLUTIONS):
            self.fresh[id(y)] = _Fold([copy], x)
        elif lowered and isinstance(copy, _PER_CHANNEL) and id(x) in self.fresh:
            fold = self.fresh[id(x)]
            self.fresh[id(y)] = _Fold([*fold.layers, copy], fold.inputs)
        return y

    def fold_batch_norm(self, fold, norm):
        """``fold``'s convolution with the inference-mode ``norm`` folded in; the
        convolution is built anew (a bias may be needed), the old one left unused."""
        weights = {w.name: stock.numpy(w) for w in norm.weights}
        a = weights.get("gamma", 1.0) / np.sqrt(
            weights["moving_variance"] + norm.epsilon
        )
        shift = weights.get("beta", 0.0) - weights["moving_mean"] * a
        conv = fold.layers[0]
        kernel, *bias = [stock.numpy(w) for w in conv.get_weights()]
        # Output channels: [..., in, out] (Conv3D), [..., out, in] (transpose).
        axis = 4 if isinstance(conv, keras.layers.Conv3D) else 3
        shape = [1] * kernel.ndim
        shape[axis] = -1
        kernel = kernel * a.reshape(shape)
        bias = (bias[0] if bias else 0.0) * a + shift
        config = conv.get_config()
        config["use_bias"] = conv.use_bias or bool(np.any(bias))
        layers = [type(conv).from_config(config)]
        layers += [
            type(layer).from_config(layer.get_config()) for layer in fold.layers[1:]
        ]
        y = layers[0](fold.inputs)
        layers[0].set_weights([kernel, bias] if config["use_bias"] else [kernel])
        for layer in layers[1:]:
            y = layer(y)
        self.fresh[id(y)] = _Fold(layers, fold.inputs)
        return y


def _single(op, args):
    flat = tree.flatten(args)
    if len(flat) != 1:
        raise ValueError(
            f"keras_se3.collapse: layer {op.name!r} was called on {len(flat)} "
            "tensors; keras_se3 layers take one."
        )
    return flat


def collapse(model, name=None, fold_batch_norm=True):
    """A copy of ``model`` made of stock Keras layers only, for inference and export.

    Every steerable convolution becomes a ``Conv3D`` (``Conv3DTranspose``) with the
    assembled kernel, field batch norm (inference statistics) is folded into the
    preceding convolution where exact, and gates, norm nonlinearities, low-pass
    filters, invariant pooling and dropout become fixed stock layers (each
    layer's ``to_stock_keras``; see the module docstring).  The result computes
    the same function as ``model`` in inference mode (``training=False``), is
    still rotation-equivariant, saves to ``.keras`` and loads without keras_se3.
    ``model`` is not modified.

    Args:
        model: a built ``keras.Sequential`` or functional ``keras.Model``; nested
            Sequential / functional sub-models are inlined.
        name: name of the new model (default: ``model.name + "_collapsed"``).
        fold_batch_norm: fold field batch norm into the preceding convolution
            where exact (default); ``False`` keeps it as a frozen stock
            ``BatchNormalization``.

    Returns:
        A functional ``keras.Model`` with the same inputs (names, shapes) and
        outputs.  All its weights are float32; its layers are not trainable where
        they are fixed (selection matrices, filters, frozen batch norm).

    Raises:
        ValueError: for a subclassed model, an unbuilt Sequential, or a layer it
            cannot convert (a ``Lambda``, or a custom layer without
            ``to_stock_keras``), naming the layer and what to do.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"keras_se3.collapse expects a keras.Model, got {type(model).__name__}."
        )
    collapser = _Collapser(fold_batch_norm)
    inputs = [
        keras.Input(shape=t.shape[1:], dtype="float32", name=collapser.name(t.name))
        for t in _inputs(model)
    ]
    outputs = collapser.graph(model, inputs, "", lowered=False)
    if isinstance(model, keras.Sequential):
        inputs = inputs[0]
    else:
        inputs = tree.pack_sequence_as(model.input, inputs)
    return keras.Model(inputs, outputs, name=name or f"{model.name}_collapsed")
