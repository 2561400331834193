"""`InvariantPooling`: global pooling to rotation-invariant features."""

import keras
import numpy as np
from keras import ops

from keras_se3.field_type import FieldType
from keras_se3.layers.gate import _matmul_last, spread_matrix


@keras.saving.register_keras_serializable(package="keras_se3")
class InvariantPooling(keras.layers.Layer):
    """Global spatial pooling to one rotation-invariant feature per field.

    Each scalar field contributes its value, each non-scalar field its norm
    ``sqrt(|v|^2 + epsilon)`` (smooth, finite gradient at ``v = 0``); these are
    then averaged (``mode="mean"``) or maximised (``mode="max"``) over all
    spatial positions.  The result is invariant under rotations of the input
    (exactly for the 24 rotations of the cube).

    Args:
        fields: input field type (``FieldType``, string like ``"8x0 + 4x1"``, or
            list of ``(multiplicity, l)`` pairs).
        mode: ``"mean"`` or ``"max"``.
        epsilon: added to the squared norms.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Input shape:
        ``(batch, x, y, z, fields.dim)`` (any number of spatial axes works).

    Output shape:
        ``(batch, fields.num_fields)``, one feature per field in field order.

    Example:

    >>> pool = InvariantPooling("4x0 + 2x1")
    >>> tuple(pool(np.zeros((2, 8, 8, 8, 10))).shape)
    (2, 6)
    """

    def __init__(self, fields, mode="mean", epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("mean", "max"):
            raise ValueError(f"`mode` must be 'mean' or 'max', got {mode!r}.")
        self.fields = FieldType(fields)
        self.mode = mode
        self.epsilon = float(epsilon)
        field_orders = self.fields.field_orders
        scalar_fields = np.flatnonzero(field_orders == 0)
        vector_fields = np.flatnonzero(field_orders > 0)
        self._scalar_channels = np.flatnonzero(self.fields.channel_orders == 0)
        # [dim, n_vector_fields]: sums the squares of each non-scalar field.
        self._sum_matrix = spread_matrix(self.fields, vector_fields).T
        # Features are computed as [scalar fields, vector fields]; this restores
        # the field order.
        order = np.argsort(np.concatenate([scalar_fields, vector_fields]))
        self._ungroup = None if np.array_equal(order, np.arange(len(order))) else order

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels != self.fields.dim:
            raise ValueError(
                f"Layer '{self.name}' (InvariantPooling) expects fields="
                f"{str(self.fields)!r} ({self.fields.dim} channels), but the input "
                f"has {channels} channels."
            )

    def call(self, inputs):
        axes = tuple(range(1, len(inputs.shape) - 1))
        reduce = ops.mean if self.mode == "mean" else ops.max
        parts = []
        if len(self._scalar_channels):
            # Pool first, then pick the scalar channels of the small [batch, dim].
            pooled = reduce(inputs, axis=axes)
            parts.append(ops.take(pooled, self._scalar_channels, axis=-1))
        if self._sum_matrix.shape[1]:
            dtype = keras.backend.result_type(inputs.dtype, "float32")
            squares = ops.square(ops.cast(inputs, dtype))
            norms = ops.sqrt(_matmul_last(squares, self._sum_matrix) + self.epsilon)
            parts.append(ops.cast(reduce(norms, axis=axes), inputs.dtype))
        pooled = ops.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]
        if self._ungroup is not None:
            pooled = ops.take(pooled, self._ungroup, axis=-1)
        return pooled

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.fields.num_fields)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"fields": str(self.fields), "mode": self.mode, "epsilon": self.epsilon}
        )
        return config
