"""Building blocks of the layers' ``to_stock_keras`` models (stock Keras only).

The models these build hold fixed float32 weights and use built-in layers
only, so they save and load with plain Keras (``safe_mode=True``): no
``Lambda`` (Python code), no ``keras.ops`` call that a layer could not
express (Keras has no ``sqrt`` layer: norms go through ``UnitNormalization``,
see :func:`field_norms`).
"""

import keras
import numpy as np


def stock_input(layer, input_shape, channels):
    """The ``keras.Input`` of ``layer``'s stock model (float32).

    ``input_shape`` excludes the batch axis; ``None``: three unknown spatial
    axes and ``channels``.
    """
    if not layer.built:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) is not built, so it has "
            "no weights to export yet: call it on data or on a keras.Input first."
        )
    if input_shape is None:
        input_shape = (None, None, None, channels)
    return keras.Input(shape=tuple(input_shape), dtype="float32")


def apply(cls, x, name, *args, weights=None, **kwargs):
    """``cls(*args, name=name, dtype="float32", **kwargs)(x)``, then ``weights``."""
    layer = cls(*args, name=name, dtype="float32", **kwargs)
    y = layer(x)
    if weights is not None:
        layer.set_weights([np.asarray(w, dtype="float32") for w in weights])
    return y


def numpy(value):
    """A weight or tensor as a float64 numpy array."""
    return np.asarray(keras.ops.convert_to_numpy(value), dtype="float64")


def selection(dim, index):
    """0/1 matrix ``[dim, len(index)]``: ``x @ M == x[..., index]``."""
    matrix = np.zeros((dim, len(index)))
    matrix[np.asarray(index, dtype=int), np.arange(len(index))] = 1.0
    return matrix


def dense(x, name, kernel, bias=None):
    """A frozen ``Dense`` on the channel axis: ``x @ kernel (+ bias)``."""
    kernel = np.asarray(kernel)
    return apply(
        keras.layers.Dense,
        x,
        name,
        kernel.shape[1],
        use_bias=bias is not None,
        trainable=False,
        weights=[kernel] if bias is None else [kernel, bias],
    )


def add(parts, name):
    """The sum of ``parts`` (no layer for a single part)."""
    return parts[0] if len(parts) == 1 else apply(keras.layers.Add, parts, name)


def scalar_activation(x, dim, channels, bias, activation, name):
    """``activation(x[..., channels] + bias)`` on those of ``dim`` channels, else 0."""
    s = dense(x, f"{name}_scalars", selection(x.shape[-1], channels), bias)
    s = apply(keras.layers.Activation, s, f"{name}_act", activation)
    return dense(s, f"{name}_place", selection(dim, channels).T)


def field_norms(x, field_type, fields, epsilon, name):
    """Per field of ``fields``: ``(|v|, v / |v|)`` with ``|v| = sqrt(v^2 + eps)``.

    Each field's channels get one more component, the constant ``sqrt(eps)``;
    ``UnitNormalization`` of that gives ``v / |v|`` and ``sum(v * v / |v|)``
    gives ``|v|``.

    Returns:
        ``(norms, units, spread, to_channels)``: the norms ``[..., len(fields)]``;
        the unit vectors of all fields concatenated, each followed by its
        ``sqrt(eps) / |v|`` slot; the 0/1 matrix spreading per-field values over
        that layout; and the matrix mapping that layout back to the channels.
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
        v = dense(x, f"{name}_field{field}", kernel, bias)
        u = apply(keras.layers.UnitNormalization, v, f"{name}_unit{field}", axis=-1)
        vu = apply(keras.layers.Multiply, [v, u], f"{name}_vu{field}")
        norms.append(dense(vu, f"{name}_norm{field}", np.ones((k + 1, 1))))
        units.append(u)
        slots.append(list(channels) + [-1])
    if len(fields) > 1:
        norms = apply(keras.layers.Concatenate, norms, f"{name}_norms", axis=-1)
        units = apply(keras.layers.Concatenate, units, f"{name}_units", axis=-1)
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


def chain(inputs, layers, name):
    """Stock model of ``layers`` applied in order (each lowered by its own
    ``to_stock_keras``, named ``f"{name}_{layer.name}"``); ``inputs`` is the
    model's ``keras.Input``.  Returns the output tensor."""
    x = inputs
    for layer in layers:
        x = layer.to_stock_keras(x.shape[1:], f"{name}_{layer.name}")(x)
    return x
