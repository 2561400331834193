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
    spread_matrix,
)


def gate_input_fields(fields):
    """``fields`` followed by one scalar gate per non-scalar field of ``fields``
    (even scalars ``0e`` for an O(3) type: a gate must not flip under reflections)."""
    fields = FieldType(fields)
    n_gates = int(np.count_nonzero(fields.field_orders > 0))
    parity = (1,) if fields.has_parity else ()
    return fields + FieldType([(n_gates, 0, *parity)]) if n_gates else fields


def check_odd(activation, what):
    """Raise unless ``activation(-x) == -activation(x)`` (sampled on [-4, 4]):
    on pseudo-scalars, which change sign under reflections, only an odd function
    keeps a layer equivariant."""
    x = np.linspace(-4.0, 4.0, 17).astype("float32")
    y = keras.ops.convert_to_numpy(activation(keras.ops.convert_to_tensor(x)))
    if not np.allclose(y, -y[::-1], atol=1e-6):
        name = getattr(activation, "__name__", repr(activation))
        raise ValueError(
            f"{what}: the activation of pseudo-scalar fields (0o) must be an odd "
            f"function (f(-x) = -f(x)), e.g. 'tanh'; {name!r} is not. Pass another "
            "`odd_activation`, or make those fields even scalars (0e)."
        )


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

    **O(3) types** (``"4x0e + 2x0o + 2x1o + 1x1e"``): the gates are even scalars
    (``0e``), so gating keeps every field's parity; even scalars go through
    ``activation`` with a bias; pseudo-scalars (``0o``), which flip sign under
    reflections, go through ``odd_activation`` without a bias (an odd function:
    checked, a clear error otherwise).

    Args:
        fields: output field type (``FieldType``, string like ``"8x0 + 4x1"`` or
            ``"4x0e + 2x1o"``, or list of ``(multiplicity, l)`` pairs).
        activation: activation of the scalar fields (any Keras activation; None
            for the identity).
        odd_activation: activation of the pseudo-scalars of an O(3) type; must
            be odd (default ``"tanh"``).
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
    TAKES_O3 = True

    def __init__(
        self,
        fields,
        activation="relu",
        use_bias=True,
        gate_activation="sigmoid",
        bias_initializer="zeros",
        odd_activation="tanh",
        **kwargs,
    ):
        super().__init__(fields, **kwargs)
        self.activation = keras.activations.get(activation)
        self.gate_activation = keras.activations.get(gate_activation)
        self.odd_activation = keras.activations.get(odd_activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        # Even (or SO(3)) scalars: activation + bias; pseudo-scalars: odd, no bias.
        self._scalar_channels = self.fields.scalar_channels
        self._odd_channels = (
            self.fields.channels_of(0, -1) if self.fields.has_parity else np.zeros(0)
        ).astype(int)
        if len(self._odd_channels):
            check_odd(self.odd_activation, f"Gate {self.name!r}")
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
        if len(self._odd_channels):
            odd = select_channels(inputs, self._odd_channels)
            odd = place_channels(self.odd_activation(odd), self._odd_channels, dim)
            outputs = odd if outputs is None else outputs + odd
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
        if len(self._odd_channels):
            ch, odd_name = self._odd_channels, f"{name}_odd"
            parts.append(
                stock.scalar_activation(x, dim, ch, None, self.odd_activation, odd_name)
            )
        return keras.Model(x, stock.add(parts, f"{name}_sum"), name=name)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "gate_activation": keras.activations.serialize(self.gate_activation),
                "odd_activation": keras.activations.serialize(self.odd_activation),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
