"""`collapse`: a trained keras_se3 model as a model of stock Keras layers only.

Paper 4.4.3: after training, every steerable basis can be folded away and the
network becomes an ordinary 3D CNN.  :func:`collapse` walks a Sequential or
functional model (nested models are inlined) and rewrites every keras_se3 layer
into stock Keras layers that compute the same function in inference mode:

- ``SE3Conv3D`` -> ``Conv3D`` (with a ``ZeroPadding3D`` where the padding is
  explicit) holding the assembled kernel and the scattered bias;
  ``SE3Conv3DTranspose`` -> ``Conv3DTranspose`` + ``Cropping3D``;
- ``FieldBatchNormalization`` -> folded into the preceding convolution's kernel
  and bias (also through an average pooling, which commutes with a per-channel
  affine map), otherwise a frozen ``BatchNormalization`` with the same
  per-channel scale and shift;
- ``Gate`` -> fixed 0/1 ``Dense`` layers (on the channel axis) that select the
  scalars / gates and spread each gate over its field's channels, ``Activation``,
  ``Multiply``, ``Add``;
- ``NormActivation`` / ``InvariantPooling`` (norms of non-scalar fields) ->
  per field: a fixed ``Dense`` picking the field's channels plus one constant
  ``sqrt(epsilon)`` component, ``UnitNormalization`` (``v / |v|``), and
  ``|v| = sum(v * v / |v|)`` -- Keras has no ``sqrt`` layer, and a ``Lambda`` would
  not load with ``safe_mode=True``;
- ``LowPassDownsampling3D`` -> ``ZeroPadding3D`` and, per axis, the symmetric
  Gaussian written as a sum of nested box filters (``AveragePooling3D`` with the
  subsampling stride, ``Cropping3D``, ``Rescaling``, ``Add``): depthwise, so
  ``O(channels)`` per voxel like the original; average pooling ->
  ``AveragePooling3D``;
- ``FieldDropout`` -> removed (the identity at inference);
- ``SE3GatedConv3D`` / ``SE3ResidualBlock`` -> their stages, as above.

Stock Keras layers and ``keras.ops`` nodes are copied.  The result saves to
``.keras`` and loads with plain Keras (``safe_mode=True``) without keras_se3.
"""

import keras
import numpy as np
from keras import tree

from keras_se3.layers.field_batch_norm import FieldBatchNormalization
from keras_se3.layers.field_dropout import FieldDropout
from keras_se3.layers.gate import Gate
from keras_se3.layers.invariant_pooling import InvariantPooling
from keras_se3.layers.low_pass import LowPassDownsampling3D
from keras_se3.layers.norm_activation import NormActivation
from keras_se3.layers.se3_conv3d import SE3Conv3D
from keras_se3.layers.se3_conv3d_transpose import SE3Conv3DTranspose
from keras_se3.layers.se3_gated_conv3d import SE3GatedConv3D
from keras_se3.layers.se3_residual_block import SE3ResidualBlock

SUPPORTED = (
    "keras_se3 layers: SE3Conv3D, SE3Conv3DTranspose, SE3GatedConv3D, "
    "SE3ResidualBlock, Gate, NormActivation, FieldBatchNormalization, "
    "FieldDropout, LowPassDownsampling3D, InvariantPooling; Keras built-in "
    "layers and keras.ops calls; nested Sequential / functional models"
)


def _numpy(value):
    return np.asarray(keras.ops.convert_to_numpy(value), dtype="float64")


def _is_builtin(obj):
    module = type(obj).__module__
    return module == "keras" or module.startswith(("keras.", "keras.src."))


class _Conv:
    """A stock convolution whose weights are set at the end (BN may fold into it)."""

    def __init__(self, layer, kernel, bias, out_axis):
        self.layer, self.kernel, self.bias, self.out_axis = (
            layer,
            kernel,
            bias,
            out_axis,
        )

    def fold(self, a, b):
        shape = [1] * self.kernel.ndim
        shape[self.out_axis] = -1
        self.kernel = self.kernel * a.reshape(shape)
        bias = np.zeros(len(a)) if self.bias is None else self.bias
        self.bias = bias * a + b

    def finish(self):
        weights = [self.kernel.astype("float32")]
        if self.layer.use_bias:
            bias = np.zeros(self.kernel.shape[self.out_axis])
            weights.append((bias if self.bias is None else self.bias).astype("float32"))
        elif self.bias is not None and np.any(self.bias):
            raise AssertionError("internal: bias on a convolution without one")
        self.layer.set_weights(weights)


class _Builder:
    def __init__(self, fold=True):
        self.fold = fold
        self.names = set()
        self.convs = []  # _Conv records, weights set by finish()
        self.fresh = {}  # id(new tensor) -> _Conv whose (per-channel) output it is

    def name(self, base):
        name, index = base, 1
        while name in self.names:
            name = f"{base}_{index}"
            index += 1
        self.names.add(name)
        return name

    def __call__(self, cls, x, name, *args, weights=None, **kwargs):
        layer = cls(*args, name=self.name(name), dtype="float32", **kwargs)
        y = layer(x)
        if weights is not None:
            layer.set_weights([np.asarray(w, dtype="float32") for w in weights])
        return y

    def dense(self, x, name, kernel, bias=None):
        kernel = np.asarray(kernel)
        return self(
            keras.layers.Dense,
            x,
            name,
            kernel.shape[1],
            use_bias=bias is not None,
            trainable=False,
            weights=[kernel] if bias is None else [kernel, bias],
        )

    def add(self, parts, name):
        return parts[0] if len(parts) == 1 else self(keras.layers.Add, parts, name)

    def finish(self):
        for conv in self.convs:
            conv.finish()


def _selection(dim, index):
    """0/1 matrix ``[dim, len(index)]``: ``x @ M == x[..., index]``."""
    matrix = np.zeros((dim, len(index)))
    matrix[np.asarray(index, dtype=int), np.arange(len(index))] = 1.0
    return matrix


# --- steerable convolutions ---


def _conv_bias(layer):
    if layer.bias is None:
        return None
    return np.concatenate([_numpy(layer.bias), [0.0]])[layer._bias_index]


def _convert_conv(b, layer, x, name, fold_next=False):
    kernel = _numpy(layer.kernel)
    bias = _conv_bias(layer)
    use_bias = bias is not None or fold_next
    if isinstance(layer, SE3Conv3DTranspose):
        conv = keras.layers.Conv3DTranspose(
            layer.out_fields.dim,
            layer.kernel_size,
            strides=layer.strides,
            padding="valid",
            use_bias=use_bias,
            name=b.name(name),
            dtype="float32",
        )
        y = conv(x)
        record = _Conv(conv, np.transpose(kernel, (0, 1, 2, 4, 3)), bias, 3)
        if layer.padding == "same":
            crop = tuple(((k - 1) // 2,) * 2 for k in layer.kernel_size)
            if any(c for c, _ in crop):
                y = b(keras.layers.Cropping3D, y, f"{name}_crop", cropping=crop)
    else:
        pad = layer._explicit_padding()
        if layer.padding == "same" and layer.strides == (1, 1, 1):
            padding = "same"
        else:
            padding = "valid"
            if pad is not None and any(pad):
                y = b(keras.layers.ZeroPadding3D, x, f"{name}_pad", padding=pad)
                x = y
        conv = keras.layers.Conv3D(
            layer.out_fields.dim,
            layer.kernel_size,
            strides=layer.strides,
            padding=padding,
            dilation_rate=layer.dilation_rate,
            use_bias=use_bias,
            name=b.name(name),
            dtype="float32",
        )
        y = conv(x)
        record = _Conv(conv, kernel, bias, 4)
    b.convs.append(record)
    b.fresh[id(y)] = record
    return y


def _convert_batch_norm(b, layer, x, name, foldable=True):
    a, shift = layer.inference_affine()
    record = b.fresh.get(id(x)) if foldable and b.fold else None
    if record is not None and (record.layer.use_bias or not np.any(shift)):
        record.fold(a, shift)
        return x
    eps = 1e-3
    return b(
        keras.layers.BatchNormalization,
        x,
        name,
        epsilon=eps,
        trainable=False,
        weights=[a * np.sqrt(1.0 + eps), shift, np.zeros_like(a), np.ones_like(a)],
    )


# --- low-pass filters ---


def _convert_low_pass(b, layer, x, name):
    f = layer.factor if layer.subsample else 1
    if f == 1 and len(layer.blur_kernel_1d()) == 1:
        return x  # no blur and no subsampling: the identity
    if layer.method == "average":
        y = b(
            keras.layers.AveragePooling3D,
            x,
            name,
            pool_size=f,
            strides=f,
            padding="valid",
        )
        if id(x) in b.fresh:  # averages commute with a per-channel affine map
            b.fresh[id(y)] = b.fresh[id(x)]
        return y
    w = layer.blur_kernel_1d()
    p = (len(w) - 1) // 2
    # Symmetric filter = sum over r of c_r * (box of width 2r + 1), nested boxes.
    half = np.append(w[p:], 0.0)
    coeffs = [(2 * r + 1) * (half[r] - half[r + 1]) for r in range(p + 1)]
    for axis, label in enumerate("xyz"):
        pads = [(0, 0)] * 3
        pads[axis] = (p, p)
        padded = b(
            keras.layers.ZeroPadding3D, x, f"{name}_pad_{label}", padding=tuple(pads)
        )
        terms = []
        for r, c in enumerate(coeffs):
            if c == 0.0:
                continue
            piece = padded
            if p - r:
                crop = [(0, 0)] * 3
                crop[axis] = (p - r, p - r)
                piece = b(
                    keras.layers.Cropping3D,
                    piece,
                    f"{name}_crop_{label}{r}",
                    cropping=tuple(crop),
                )
            size, stride = [1, 1, 1], [1, 1, 1]
            size[axis], stride[axis] = 2 * r + 1, f
            if size[axis] > 1 or f > 1:
                piece = b(
                    keras.layers.AveragePooling3D,
                    piece,
                    f"{name}_box_{label}{r}",
                    pool_size=tuple(size),
                    strides=tuple(stride),
                    padding="valid",
                )
            piece = b(
                keras.layers.Rescaling, piece, f"{name}_scale_{label}{r}", scale=c
            )
            terms.append(piece)
        x = b.add(terms, f"{name}_sum_{label}")
    return x


# --- nonlinearities and pooling ---


def _field_norms(b, x, field_type, fields, epsilon, name):
    """Per field of ``fields``: ``(|v|, v / |v|)`` with ``|v| = sqrt(v^2 + eps)``.

    Returns the norms ``[..., len(fields)]`` and the unit vectors of all fields
    concatenated, each followed by its constant ``sqrt(eps) / |v|`` slot, with the
    matrix mapping that layout back to the channels.
    """
    dim = field_type.dim
    norms, units, slots = [], [], []
    for field in fields:
        channels = np.flatnonzero(field_type.channel_fields == field)
        k = len(channels)
        kernel = np.zeros((dim, k + 1))
        kernel[channels, np.arange(k)] = 1.0
        bias = np.zeros(k + 1)
        bias[k] = np.sqrt(epsilon)
        v = b.dense(x, f"{name}_field{field}", kernel, bias)
        u = b(keras.layers.UnitNormalization, v, f"{name}_unit{field}", axis=-1)
        vu = b(keras.layers.Multiply, [v, u], f"{name}_vu{field}")
        norms.append(b.dense(vu, f"{name}_norm{field}", np.ones((k + 1, 1))))
        units.append(u)
        slots.append(list(channels) + [-1])
    if len(fields) > 1:
        norms = b(keras.layers.Concatenate, norms, f"{name}_norms", axis=-1)
        units = b(keras.layers.Concatenate, units, f"{name}_units", axis=-1)
    else:
        norms, units = norms[0], units[0]
    flat = [c for s in slots for c in s]
    to_channels = np.zeros((len(flat), dim))
    for i, c in enumerate(flat):
        if c >= 0:
            to_channels[i, c] = 1.0
    spread = np.zeros((len(fields), len(flat)))
    start = 0
    for i, s in enumerate(slots):
        spread[i, start : start + len(s)] = 1.0
        start += len(s)
    return norms, units, spread, to_channels


def _scalar_path(b, x, dim, scalar_channels, in_index, bias, activation, name):
    """``place(activation(x[..., in_index] + bias))`` on the scalar channels."""
    s = b.dense(x, f"{name}_scalars", _selection(x.shape[-1], in_index), bias)
    s = b(keras.layers.Activation, s, f"{name}_act", activation)
    return b.dense(s, f"{name}_place", _selection(dim, scalar_channels).T)


def _convert_gate(b, layer, x, name):
    dim, n_gates = layer.fields.dim, layer._n_gates
    scalars = layer._scalar_channels
    parts = []
    if n_gates:
        gate_bias = None if layer.gate_bias is None else _numpy(layer.gate_bias)
        g = b.dense(
            x,
            f"{name}_gates",
            _selection(dim + n_gates, dim + np.arange(n_gates)),
            gate_bias,
        )
        g = b(keras.layers.Activation, g, f"{name}_gate_act", layer.gate_activation)
        factors = b.dense(g, f"{name}_spread", layer._gate_spread)
        keep = np.zeros((dim + n_gates, dim))
        nonscalar = np.flatnonzero(layer.fields.channel_orders > 0)
        keep[nonscalar, nonscalar] = 1.0
        fields = b.dense(x, f"{name}_fields", keep)
        parts.append(b(keras.layers.Multiply, [fields, factors], f"{name}_gated"))
    if len(scalars):
        bias = None if layer.bias is None else _numpy(layer.bias)
        parts.append(
            _scalar_path(b, x, dim, scalars, scalars, bias, layer.activation, name)
        )
    return b.add(parts, f"{name}_sum")


def _convert_norm_activation(b, layer, x, name):
    ft, dim = layer.fields, layer.fields.dim
    bias = None if layer.bias is None else _numpy(layer.bias)
    parts = []
    vector_fields = layer._vector_fields
    if len(vector_fields):
        norms, units, spread, to_channels = _field_norms(
            b, x, ft, vector_fields, layer.epsilon, name
        )
        n = len(vector_fields)
        lengths = b.dense(
            norms,
            f"{name}_lengths",
            np.eye(n),
            None if bias is None else bias[vector_fields],
        )
        lengths = b(
            keras.layers.Activation, lengths, f"{name}_norm_act", layer.activation
        )
        factors = b.dense(lengths, f"{name}_spread", spread)
        scaled = b(keras.layers.Multiply, [units, factors], f"{name}_scaled")
        parts.append(b.dense(scaled, f"{name}_vectors", to_channels))
    if len(layer._scalar_fields):
        sb = None if bias is None else bias[layer._scalar_fields]
        ch = layer._scalar_channels
        parts.append(_scalar_path(b, x, dim, ch, ch, sb, layer.activation, name))
    return b.add(parts, f"{name}_sum")


def _convert_invariant_pooling(b, layer, x, name):
    ft = layer.fields
    pool = (
        keras.layers.GlobalAveragePooling3D
        if layer.mode == "mean"
        else keras.layers.GlobalMaxPooling3D
    )
    scalar_fields = np.flatnonzero(ft.field_orders == 0)
    vector_fields = np.flatnonzero(ft.field_orders > 0)
    pooled, columns = [], []  # columns: field of each pooled feature (-1: unused)
    if len(scalar_fields):
        pooled.append(b(pool, x, f"{name}_scalars"))
        columns += [
            f if ft.channel_orders[c] == 0 else -1
            for c, f in enumerate(ft.channel_fields)
        ]
    if len(vector_fields):
        norms = _field_norms(b, x, ft, vector_fields, layer.epsilon, name)[0]
        pooled.append(b(pool, norms, f"{name}_norms"))
        columns += list(vector_fields)
    if len(pooled) > 1:
        pooled = b(keras.layers.Concatenate, pooled, f"{name}_concat", axis=-1)
    else:
        pooled = pooled[0]
    matrix = np.zeros((len(columns), ft.num_fields))
    for i, f in enumerate(columns):
        if f >= 0:
            matrix[i, f] = 1.0
    if np.array_equal(matrix, np.eye(len(columns))):
        return pooled
    return b.dense(pooled, f"{name}_fields", matrix)


# --- composite layers ---


def _convert_gated(b, layer, x, name):
    x = _convert_conv(b, layer.conv, x, f"{name}_conv", fold_next=True)
    if layer.norm is not None:
        x = _convert_batch_norm(b, layer.norm, x, f"{name}_norm")
    x = _convert_gate(b, layer.gate, x, f"{name}_gate")
    if layer.down is not None:
        x = _convert_low_pass(b, layer.down, x, f"{name}_down")
    return x


def _convert_residual(b, layer, x, name):
    main = _convert_gated(b, layer.gated, x, f"{name}_gated")
    main = _convert_conv(b, layer.conv, main, f"{name}_conv", fold_next=True)
    if layer.norm is not None:
        main = _convert_batch_norm(b, layer.norm, main, f"{name}_norm")
    skip = x
    if layer.shortcut is not None:
        if layer.shortcut_blur is not None:
            skip = _convert_low_pass(b, layer.shortcut_blur, skip, f"{name}_sc_blur")
        skip = _convert_conv(
            b, layer.shortcut, skip, f"{name}_shortcut", fold_next=True
        )
        if layer.shortcut_pool is not None:
            skip = _convert_low_pass(b, layer.shortcut_pool, skip, f"{name}_sc_pool")
        if layer.shortcut_norm is not None:
            skip = _convert_batch_norm(b, layer.shortcut_norm, skip, f"{name}_sc_norm")
    return b(keras.layers.Add, [main, skip], f"{name}_add")


_CONVERTERS = (
    (SE3ResidualBlock, _convert_residual),
    (SE3GatedConv3D, _convert_gated),
    (SE3Conv3D, _convert_conv),  # and SE3Conv3DTranspose
    (FieldBatchNormalization, _convert_batch_norm),
    (Gate, _convert_gate),
    (NormActivation, _convert_norm_activation),
    (LowPassDownsampling3D, _convert_low_pass),
    (InvariantPooling, _convert_invariant_pooling),
    (FieldDropout, lambda b, layer, x, name: x),
)


# --- graph walking ---


def _unsupported(op, context):
    kind = "subclassed model" if isinstance(op, keras.Model) else "layer"
    return ValueError(
        f"keras_se3.collapse cannot convert the {kind} {op.name!r} "
        f"({type(op).__module__}.{type(op).__qualname__}){context}. Supported: "
        f"{SUPPORTED}. A subclassed model: rebuild it with the functional API "
        "(keras.Input ... keras.Model(inputs, outputs)) from the same layers; a "
        "custom layer: replace it by built-in layers, or collapse the part of the "
        "model before it and export the rest separately."
    )


def _single_tensor(args, op):
    flat = tree.flatten(args)
    if len(flat) != 1:
        raise ValueError(
            f"keras_se3.collapse: layer {op.name!r} was called on {len(flat)} "
            "tensors; keras_se3 layers take one."
        )
    return flat[0]


def _is_functional(model):
    return hasattr(model, "_nodes_by_depth") and hasattr(model, "_outputs_struct")


def _convert_op(b, op, args, kwargs, prefix, foldable=False, fold_next=False):
    name = f"{prefix}{op.name}"
    for cls, converter in _CONVERTERS:
        if isinstance(op, cls):
            x = _single_tensor(args, op)
            if cls is FieldBatchNormalization:
                return converter(b, op, x, name, foldable=foldable)
            if cls is SE3Conv3D:
                return converter(b, op, x, name, fold_next=fold_next)
            return converter(b, op, x, name)
    if isinstance(op, keras.Sequential):
        x = _single_tensor(args, op)
        return _walk_sequential(b, op, x, f"{name}_")
    if isinstance(op, keras.Model):
        if not _is_functional(op):
            raise _unsupported(op, "")
        return _walk_functional(b, op, args, f"{name}_")
    if not _is_builtin(op):
        raise _unsupported(op, "")
    if isinstance(op, keras.layers.Layer):
        kwargs = {k: v for k, v in kwargs.items() if k not in ("training", "mask")}
        config = op.get_config()
        config["name"] = b.name(name)
        clone = type(op).from_config(config)
        outputs = clone(*args, **kwargs)
        clone.set_weights(op.get_weights())
        return outputs
    # A keras.ops call recorded in a functional model (e.g. `x + y`).
    return op(*args, **kwargs)


def _walk_sequential(b, model, x, prefix):
    layers = [
        layer
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    ]
    for i, layer in enumerate(layers):
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        x = _convert_op(
            b,
            layer,
            (x,),
            {},
            prefix,
            foldable=True,
            fold_next=isinstance(nxt, FieldBatchNormalization),
        )
    return x


def _walk_functional(b, model, inputs, prefix):
    tensors = {id(t): new for t, new in zip(model.inputs, tree.flatten(inputs))}
    consumers = {}
    for node_list in model._nodes_by_depth.values():
        for node in node_list:
            if node.is_input:
                continue
            for t in node.input_tensors:
                consumers.setdefault(id(t), []).append(node.operation)
    for t in model.outputs:
        consumers.setdefault(id(t), []).append(None)
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if not node.operation or node.is_input:
                continue
            if any(id(t) not in tensors for t in node.input_tensors):
                continue
            args, kwargs = node.arguments.fill_in(tensors)
            inputs_ = node.input_tensors
            foldable = len(inputs_) == 1 and len(consumers[id(inputs_[0])]) == 1
            users = [consumers.get(id(t), []) for t in node.outputs]
            fold_next = (
                len(users) == 1
                and len(users[0]) == 1
                and isinstance(users[0][0], FieldBatchNormalization)
            )
            outputs = _convert_op(
                b,
                node.operation,
                args,
                kwargs,
                prefix,
                foldable=foldable,
                fold_next=fold_next,
            )
            for t, new in zip(node.outputs, tree.flatten(outputs)):
                tensors[id(t)] = new
                if len(consumers.get(id(t), [])) != 1:
                    b.fresh.pop(id(new), None)  # folding would change other users
    outputs = [tensors[id(t)] for t in model.outputs]
    return tree.pack_sequence_as(model._outputs_struct, outputs)


def collapse(model, name=None, fold_batch_norm=True):
    """A copy of ``model`` made of stock Keras layers only, for inference and export.

    Every steerable convolution becomes a ``Conv3D`` (``Conv3DTranspose``) with the
    assembled kernel, field batch norm (inference statistics) is folded into the
    preceding convolution where exact, and gates, norm nonlinearities, low-pass
    filters, invariant pooling and dropout become fixed stock layers (see the
    module docstring).  The result computes the same function as ``model`` in
    inference mode (``training=False``), is still rotation-equivariant, saves to
    ``.keras`` and loads without keras_se3.  ``model`` is not modified.

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
        ValueError: for a subclassed model, an unbuilt Sequential, or a layer that
            is neither keras_se3's nor built into Keras.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"keras_se3.collapse expects a keras.Model, got {type(model).__name__}."
        )
    b = _Builder(fold=fold_batch_norm)
    if isinstance(model, keras.Sequential):
        try:
            specs = model.inputs
        except (AttributeError, ValueError):
            specs = None
        if not specs:
            raise ValueError(
                "keras_se3.collapse needs a built Sequential model with a known "
                "input: start it with keras.Input(shape) (or call it once on data)."
            )
        spec = specs[0]
        inputs = keras.Input(
            shape=spec.shape[1:], dtype="float32", name=b.name(spec.name)
        )
        outputs = _walk_sequential(b, model, inputs, "")
    elif _is_functional(model):
        inputs = [
            keras.Input(shape=t.shape[1:], dtype="float32", name=b.name(t.name))
            for t in model.inputs
        ]
        outputs = _walk_functional(b, model, inputs, "")
        inputs = tree.pack_sequence_as(model._inputs_struct, inputs)
    else:
        raise _unsupported(model, " (only Sequential and functional models)")
    b.finish()
    return keras.Model(inputs, outputs, name=name or f"{model.name}_collapsed")
