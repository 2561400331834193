"""`NormActivation`: a nonlinearity acting on the norms of the fields."""

import keras
import numpy as np
from keras import ops

import keras_se3.layers.stock as stock
from keras_se3.layers.field_layer import (
    FieldLayer,
    channel_matmul,
    field_norms,
    place_channels,
    select_channels,
    spread_matrix,
)


@keras.saving.register_keras_serializable(package="keras_se3")
class NormActivation(FieldLayer):
    """Norm nonlinearity: rescale each non-scalar field by a function of its norm.

    Scalar fields ``s`` become ``activation(s + b)``; each non-scalar field ``v``
    becomes ``activation(|v| + b) * v / |v|`` (its direction kept, its length
    passed through the activation), with one bias per field.  The norm is the
    smooth ``|v| = sqrt(sum v^2 + epsilon)`` of :class:`FieldLayer`, so value and
    gradient stay finite at ``v = 0`` (the output there is 0).

    **O(3) types**: norms do not change under reflections, so every field of
    order > 0 is treated as above whatever its parity; a pseudo-scalar (``0o``),
    whose sign flips under reflections, is treated like them, as a one-channel
    field: ``activation(|s| + b) * s / |s|`` (sign kept, magnitude through the
    activation); even scalars as scalars.

    Args:
        fields: field type of input and output (``FieldType``, string like
            ``"8x0 + 4x1"``, or list of ``(multiplicity, l)`` pairs).
        activation: any Keras activation (None for the identity).
        use_bias: learn one bias per field (the weight ``bias``, in field order).
        bias_initializer: initializer of the bias.
        epsilon: added to the squared norm (default
            ``FieldLayer.NORM_EPSILON``, 1e-6; see :class:`FieldLayer`).
        **kwargs: base ``keras.layers.Layer`` arguments.

    Input shape:
        ``(batch, ..., fields.dim)``.

    Output shape:
        same as the input.

    Example:

    >>> layer = NormActivation("2x0 + 1x1", activation="softplus")
    >>> tuple(layer(np.zeros((2, 8, 8, 8, 5))).shape)
    (2, 8, 8, 8, 5)
    """

    TAKES_O3 = True

    def __init__(
        self,
        fields,
        activation="relu",
        use_bias=True,
        bias_initializer="zeros",
        epsilon=FieldLayer.NORM_EPSILON,
        **kwargs,
    ):
        super().__init__(fields, **kwargs)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.epsilon = float(epsilon)
        # Invariant scalars: activation(s + b); every other field (order > 0, or
        # an O(3) pseudo-scalar, which changes sign) is rescaled by a function of
        # its norm.
        self._scalar_fields = self.fields.scalar_fields
        self._scalar_channels = self.fields.scalar_channels
        self._normed_fields = np.setdiff1d(
            np.arange(self.fields.num_fields), self._scalar_fields
        )
        # [n_normed_fields, dim]: per-field value -> its channels; transposed, it
        # sums the squares of a field's channels.
        self._spread = spread_matrix(self.fields, self._normed_fields)
        self.bias = None

    def build(self, input_shape):
        self.check_input_channels(input_shape)
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.fields.num_fields,),
                initializer=self.bias_initializer,
                trainable=True,
            )

    def call(self, inputs):
        dim = self.fields.dim
        outputs = None
        if len(self._normed_fields):
            norms = field_norms(inputs, self.fields, self._normed_fields, self.epsilon)
            dtype = norms.dtype  # float32 at least
            lengths = norms
            if self.bias is not None:
                bias = ops.take(self.bias, self._normed_fields)
                lengths = norms + ops.cast(bias, dtype)
            factors = self.activation(lengths) / norms
            factors = channel_matmul(ops.cast(factors, inputs.dtype), self._spread)
            outputs = inputs * factors  # 0 on scalar channels
        if len(self._scalar_fields):
            scalars = select_channels(inputs, self._scalar_channels)
            if self.bias is not None:
                scalars = scalars + ops.take(self.bias, self._scalar_fields)
            scalars = place_channels(
                self.activation(scalars), self._scalar_channels, dim
            )
            outputs = scalars if outputs is None else outputs + scalars
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def to_stock_keras(self, input_shape=None, name=None):
        """Per non-scalar field: a fixed ``Dense`` picking its channels plus the
        constant ``sqrt(epsilon)``, ``UnitNormalization`` (``v / |v|``) and
        ``|v| = sum(v * v / |v|)``; then ``Activation``, ``Multiply``; scalars
        through ``Dense`` / ``Activation``.  See :meth:`FieldLayer.to_stock_keras`.
        """
        ft, dim = self.fields, self.fields.dim
        x = stock.stock_input(self, input_shape, dim)
        name = name or self.name
        bias = None if self.bias is None else stock.numpy(self.bias)
        parts = []
        normed_fields = self._normed_fields
        if len(normed_fields):
            norms, units, spread, to_channels = stock.field_norms(
                x, ft, normed_fields, self.epsilon, name
            )
            n_bias = None if bias is None else bias[normed_fields]
            lengths = stock.dense(
                norms, f"{name}_lengths", np.eye(len(normed_fields)), n_bias
            )
            lengths = stock.apply(
                keras.layers.Activation, lengths, f"{name}_norm_act", self.activation
            )
            factors = stock.dense(lengths, f"{name}_spread", spread)
            scaled = stock.apply(
                keras.layers.Multiply, [units, factors], f"{name}_scaled"
            )
            parts.append(stock.dense(scaled, f"{name}_vectors", to_channels))
        if len(self._scalar_fields):
            s_bias = None if bias is None else bias[self._scalar_fields]
            ch = self._scalar_channels
            parts.append(
                stock.scalar_activation(x, dim, ch, s_bias, self.activation, name)
            )
        return keras.Model(x, stock.add(parts, f"{name}_sum"), name=name)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "epsilon": self.epsilon,
            }
        )
        return config
