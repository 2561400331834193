"""`Gate`: the gated nonlinearity of Weiler et al. (2018), section 4.3."""

import keras
import numpy as np
from keras import ops

import keras_se3.layers.stock as stock
from keras_se3.field_type import FieldType
from keras_se3.layers.field_layer import (
    FieldLayer,
    channel_matmul,
    place_channels,
    select_channels,
    so3_fields,
    spread_matrix,
)


def gate_input_fields(fields):
    """``fields`` followed by one scalar gate per non-scalar field of ``fields``."""
    fields = so3_fields(fields, "Gate")
    n_gates = int(np.count_nonzero(fields.field_orders > 0))
    return fields + FieldType([(n_gates, 0)]) if n_gates else fields


class _InputFields:
    """``Gate.input_fields(fields)`` on the class, ``gate.input_fields`` on a layer."""

    def __get__(self, instance, owner):
        if instance is None:
            return gate_input_fields
        return gate_input_fields(instance.fields)


@keras.saving.register_keras_serializable(package="keras_se3")
class Gate(FieldLayer):
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
        super().__init__(fields, **kwargs)
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
        self.check_input_channels(
            input_shape,
            self.input_fields,
            label="Gate.input_fields(fields)",
            hint=f"With fields={str(self.fields)!r} the input holds the fields, then "
            "one scalar gate per non-scalar field.",
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
            factors = channel_matmul(self.gate_activation(gates), self._gate_spread)
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

    def to_stock_keras(self, input_shape=None, name=None):
        """Fixed 0/1 ``Dense`` layers on the channel axis select the scalars and
        the gates and spread each gate over its field's channels; then
        ``Activation``, ``Multiply``, ``Add``.  See :meth:`FieldLayer.to_stock_keras`.
        """
        dim, n_gates = self.fields.dim, self._n_gates
        x = stock.stock_input(self, input_shape, dim + n_gates)
        name = name or self.name
        parts = []
        if n_gates:
            gate_bias = None if self.gate_bias is None else stock.numpy(self.gate_bias)
            gates = dim + np.arange(n_gates)
            g = stock.dense(
                x, f"{name}_gates", stock.selection(dim + n_gates, gates), gate_bias
            )
            g = stock.apply(
                keras.layers.Activation, g, f"{name}_gate_act", self.gate_activation
            )
            factors = stock.dense(g, f"{name}_spread", self._gate_spread)
            keep = np.zeros((dim + n_gates, dim))
            nonscalar = np.flatnonzero(self.fields.channel_orders > 0)
            keep[nonscalar, nonscalar] = 1.0
            fields = stock.dense(x, f"{name}_fields", keep)
            parts.append(
                stock.apply(keras.layers.Multiply, [fields, factors], f"{name}_gated")
            )
        if len(self._scalar_channels):
            bias = None if self.bias is None else stock.numpy(self.bias)
            ch = self._scalar_channels
            parts.append(
                stock.scalar_activation(x, dim, ch, bias, self.activation, name)
            )
        return keras.Model(x, stock.add(parts, f"{name}_sum"), name=name)

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
