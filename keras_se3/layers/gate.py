"""`Gate`: the gated nonlinearity of Weiler et al. (2018), section 4.3."""

import keras
import numpy as np
from keras import ops

from keras_se3.field_type import FieldType


def _contiguous(index):
    """``slice`` equivalent to the int array ``index`` when it is a range, else None."""
    index = np.asarray(index)
    if len(index) and np.array_equal(index, np.arange(index[0], index[0] + len(index))):
        return slice(int(index[0]), int(index[0]) + len(index))
    return None


def _matmul_last(x, matrix):
    """``x @ matrix`` over the last axis of ``x`` with a constant numpy ``matrix``."""
    return ops.matmul(x, ops.convert_to_tensor(matrix, dtype=x.dtype))


def select_channels(x, index):
    """``x[..., index]`` for a constant int array ``index``.

    A slice when ``index`` is a range, else a product with a 0/1 matrix (exact,
    and far faster to differentiate than a gather on the last axis).
    """
    piece = _contiguous(index)
    if piece is not None:
        # ops.split, not x[..., a:b]: TensorFlow's gradient of a slice on the
        # last axis is ~10x slower.
        cuts = [c for c in (piece.start, piece.stop) if 0 < c < x.shape[-1]]
        if not cuts:
            return x
        parts = ops.split(x, cuts, axis=-1)
        return parts[1] if piece.start > 0 else parts[0]
    matrix = np.zeros((x.shape[-1], len(index)), dtype="float32")
    matrix[np.asarray(index), np.arange(len(index))] = 1.0
    return _matmul_last(x, matrix)


def place_channels(y, index, dim):
    """The inverse of :func:`select_channels`: ``out[..., index] = y``, 0 elsewhere."""
    piece = _contiguous(index)
    if piece is not None:
        pads = [(0, 0)] * (len(y.shape) - 1) + [(piece.start, dim - piece.stop)]
        return ops.pad(y, pads) if pads[-1] != (0, 0) else y
    matrix = np.zeros((len(index), dim), dtype="float32")
    matrix[np.arange(len(index)), np.asarray(index)] = 1.0
    return _matmul_last(y, matrix)


def spread_matrix(field_type, fields):
    """0/1 matrix ``[len(fields), dim]``: row ``i`` is 1 on the channels of field
    ``fields[i]``.  ``y @ M`` copies per-field values to their channels (0 on the
    other channels); ``x @ M.T`` sums each of those fields' channels."""
    field_type = FieldType(field_type)
    fields = np.asarray(fields, dtype=int)
    matrix = (field_type.channel_fields[None, :] == fields[:, None]).astype("float32")
    return matrix


def gate_input_fields(fields):
    """``fields`` followed by one scalar gate per non-scalar field of ``fields``."""
    fields = FieldType(fields)
    n_gates = int(np.count_nonzero(fields.field_orders > 0))
    return fields + FieldType([(n_gates, 0)]) if n_gates else fields


class _InputFields:
    """``Gate.input_fields(fields)`` on the class, ``gate.input_fields`` on a layer."""

    def __get__(self, instance, owner):
        if instance is None:
            return gate_input_fields
        return gate_input_fields(instance.fields)


@keras.saving.register_keras_serializable(package="keras_se3")
class Gate(keras.layers.Layer):
    """Gated nonlinearity: scalars through an activation, other fields gated.

    The input holds the fields ``fields`` followed by one extra scalar *gate* per
    non-scalar field of ``fields``, in field order (the type
    ``Gate.input_fields(fields)``; a steerable convolution produces them).  The
    output has type ``fields``:

    - each scalar field ``s`` becomes ``activation(s + b)``;
    - each gate ``g`` becomes ``gate_activation(g + b_g)``, and the matching
      non-scalar field is multiplied by it (a rotation-invariant factor, so the
      layer is equivariant); the gate channels are dropped.

    With ``use_bias`` there is one bias per scalar field and one per gate (the
    weights ``bias`` and ``gate_bias``), as in the paper's networks.

    Args:
        fields: output field type (``FieldType``, string like ``"8x0 + 4x1"``, or
            list of ``(multiplicity, l)`` pairs).
        activation: activation of the scalar fields (any Keras activation; None
            for the identity).
        use_bias: learn a bias per scalar field and per gate.
        gate_activation: activation of the gates.
        bias_initializer: initializer of both biases.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Input shape:
        ``(batch, ..., Gate.input_fields(fields).dim)``: usually
        ``(batch, x, y, z, channels)``; any number of leading axes works.

    Output shape:
        ``(batch, ..., fields.dim)``.

    Example:

    >>> Gate.input_fields("4x0 + 2x1")
    FieldType('4x0 + 2x1 + 2x0')
    >>> gate = Gate("4x0 + 2x1")
    >>> tuple(gate(np.zeros((2, 8, 8, 8, 12))).shape)
    (2, 8, 8, 8, 10)
    """

    input_fields = _InputFields()

    def __init__(
        self,
        fields,
        activation="relu",
        use_bias=True,
        gate_activation="sigmoid",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.fields = FieldType(fields)
        self.activation = keras.activations.get(activation)
        self.gate_activation = keras.activations.get(gate_activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self._scalar_channels = np.flatnonzero(self.fields.channel_orders == 0)
        gated_fields = np.flatnonzero(self.fields.field_orders > 0)
        self._n_gates = len(gated_fields)
        # Gate i -> the channels of the i-th non-scalar field (0 on the others).
        self._gate_spread = spread_matrix(self.fields, gated_fields)
        self.bias = None
        self.gate_bias = None

    def build(self, input_shape):
        expected = self.input_fields
        channels = input_shape[-1]
        if channels != expected.dim:
            raise ValueError(
                f"Layer '{self.name}' (Gate with fields={str(self.fields)!r}) expects "
                f"input type Gate.input_fields(fields) = {str(expected)!r} "
                f"({expected.dim} channels: the fields, then one scalar gate per "
                f"non-scalar field), but the input has {channels} channels."
            )
        if self.use_bias and len(self._scalar_channels):
            self.bias = self.add_weight(
                name="bias",
                shape=(len(self._scalar_channels),),
                initializer=self.bias_initializer,
                trainable=True,
            )
        if self.use_bias and self._n_gates:
            self.gate_bias = self.add_weight(
                name="gate_bias",
                shape=(self._n_gates,),
                initializer=self.bias_initializer,
                trainable=True,
            )

    def call(self, inputs):
        dim = self.fields.dim
        outputs = None
        if self._n_gates:
            fields, gates = ops.split(inputs, [dim], axis=-1)
            if self.gate_bias is not None:
                gates = gates + self.gate_bias
            # Per-channel factor: the field's gate, 0 on scalar channels.
            factors = _matmul_last(self.gate_activation(gates), self._gate_spread)
            outputs = fields * factors
        if len(self._scalar_channels):
            scalars = select_channels(inputs, self._scalar_channels)
            if self.bias is not None:
                scalars = scalars + self.bias
            scalars = place_channels(
                self.activation(scalars), self._scalar_channels, dim
            )
            outputs = scalars if outputs is None else outputs + scalars
        return outputs

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.fields.dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "fields": str(self.fields),
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "gate_activation": keras.activations.serialize(self.gate_activation),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
