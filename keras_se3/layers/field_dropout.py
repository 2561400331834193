"""`FieldDropout`: dropout of whole fields."""

import keras
from keras import ops

import keras_se3.layers.stock as stock
from keras_se3.layers.field_layer import FieldLayer


@keras.saving.register_keras_serializable(package="keras_se3")
class FieldDropout(FieldLayer):
    """Drop whole fields: one Bernoulli draw per (sample, field).

    In training each field of each sample is zeroed with probability ``rate``
    (the same draw for all its ``2l + 1`` components and all positions, so the
    layer commutes with rotations) and the kept fields are scaled by
    ``1 / (1 - rate)``.  At inference the layer is the identity.

    Args:
        fields: field type of input and output (``FieldType``, string like
            ``"8x0 + 4x1"``, or list of ``(multiplicity, l)`` pairs).
        rate: probability of dropping a field, ``0 <= rate < 1``.
        seed: int seed of the layer's ``keras.random.SeedGenerator``.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Input shape:
        ``(batch, ..., fields.dim)``: usually ``(batch, x, y, z, channels)``.

    Output shape:
        same as the input.

    Example:

    >>> drop = FieldDropout("4x0 + 2x1", rate=0.2, seed=1)
    >>> tuple(drop(np.ones((2, 8, 8, 8, 10)), training=True).shape)
    (2, 8, 8, 8, 10)
    """

    TAKES_O3 = True

    def __init__(self, fields, rate, seed=None, **kwargs):
        super().__init__(fields, **kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"FieldDropout needs 0 <= rate < 1, got rate={rate!r}.")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._channel_fields = self.fields.channel_fields.astype("int32")

    def build(self, input_shape):
        self.check_input_channels(input_shape)

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        ndim = len(inputs.shape)
        shape = (ops.shape(inputs)[0],) + (1,) * (ndim - 2) + (self.fields.num_fields,)
        keep = keras.random.uniform(shape, seed=self.seed_generator) >= self.rate
        mask = ops.cast(keep, inputs.dtype) / ops.cast(1.0 - self.rate, inputs.dtype)
        return inputs * ops.take(mask, self._channel_fields, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def to_stock_keras(self, input_shape=None, name=None):
        """The identity (dropout is off at inference): a model without layers.
        See :meth:`FieldLayer.to_stock_keras`."""
        x = stock.stock_input(self, input_shape, self.fields.dim)
        return keras.Model(x, x, name=name or self.name)

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config
