"""`InvariantPooling`: global pooling to rotation-invariant features."""

import keras
import numpy as np
from keras import ops

import keras_se3.layers.stock as stock
from keras_se3.field_type import FieldType
from keras_se3.layers.field_layer import FieldLayer, field_norms


@keras.saving.register_keras_serializable(package="keras_se3")
class InvariantPooling(FieldLayer):
    """Global spatial pooling to one rotation-invariant feature per field.

    Each scalar field contributes its value, each non-scalar field its norm
    ``sqrt(|v|^2 + epsilon)`` (the smooth norm of :class:`FieldLayer`, finite
    gradient at ``v = 0``); these are
    then averaged (``mode="mean"``) or maximised (``mode="max"``) over all
    spatial positions.  The result is invariant under rotations of the input
    (exactly for the 24 rotations of the cube).

    **O(3) types**: the norms and the pooled even scalars are invariant under
    reflections too; a pseudo-scalar field (``0o``) pools to a pseudo-scalar
    (its mean changes sign under reflections), so the output's type is
    :attr:`output_fields`, e.g. ``"2x0e + 1x0o + 1x0e"`` for
    ``"2x0e + 1x0o + 1x1o"``: put a layer that is odd in them (a ``Dense``
    without bias on them, ``tanh``) or their square after it for an invariant
    head.  ``mode="max"`` refuses pseudo-scalars: the maximum of a field that
    changes sign is not equivariant.

    Args:
        fields: input field type (``FieldType``, string like ``"8x0 + 4x1"``, or
            list of ``(multiplicity, l)`` pairs).
        mode: ``"mean"`` or ``"max"``.
        epsilon: added to the squared norms (default
            ``FieldLayer.NORM_EPSILON``, 1e-6; see :class:`FieldLayer`).  Saved
            models keep the value they were built with (before this default,
            1e-12).
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

    TAKES_O3 = True

    def __init__(self, fields, mode="mean", epsilon=FieldLayer.NORM_EPSILON, **kwargs):
        super().__init__(fields, **kwargs)
        if mode not in ("mean", "max"):
            raise ValueError(f"`mode` must be 'mean' or 'max', got {mode!r}.")
        odd = (self.fields.field_orders == 0) & (self.fields.field_parities < 0)
        if mode == "max" and odd.any():
            raise ValueError(
                f"InvariantPooling(mode='max') cannot pool the pseudo-scalars (0o) "
                f"of '{self.fields}': the maximum of a field that changes sign "
                "under reflections is not equivariant. Use mode='mean' (they pool "
                "to pseudo-scalars) or turn them into other fields first."
            )
        self.mode = mode
        self.epsilon = float(epsilon)
        field_orders = self.fields.field_orders
        scalar_fields = np.flatnonzero(field_orders == 0)
        vector_fields = np.flatnonzero(field_orders > 0)
        # Order-0 channels (scalars, and pseudo-scalars 0o: they pool to
        # pseudo-scalars) are pooled by value, fields of orders > 0 by norm.
        self._value_channels = np.flatnonzero(self.fields.channel_orders == 0)
        self._normed_fields = vector_fields
        # Features are computed as [scalar fields, vector fields]; this restores
        # the field order.
        order = np.argsort(np.concatenate([scalar_fields, vector_fields]))
        self._ungroup = None if np.array_equal(order, np.arange(len(order))) else order

    @property
    def output_fields(self):
        """The type of the pooled features, one scalar per input field: ``0e``
        (``0`` for an SO(3) type) except ``0o`` for each pseudo-scalar input."""
        if not self.fields.has_parity:
            return FieldType([(self.fields.num_fields, 0)])
        odd = (self.fields.field_orders == 0) & (self.fields.field_parities < 0)
        return FieldType([(1, 0, -1 if o else 1) for o in odd]).simplify()

    def build(self, input_shape):
        self.check_input_channels(input_shape)

    def call(self, inputs):
        axes = tuple(range(1, len(inputs.shape) - 1))
        reduce = ops.mean if self.mode == "mean" else ops.max
        parts = []
        if len(self._value_channels):
            # Pool first, then pick the scalar channels of the small [batch, dim].
            pooled = reduce(inputs, axis=axes)
            parts.append(ops.take(pooled, self._value_channels, axis=-1))
        if len(self._normed_fields):
            norms = field_norms(inputs, self.fields, self._normed_fields, self.epsilon)
            parts.append(ops.cast(reduce(norms, axis=axes), inputs.dtype))
        pooled = ops.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]
        if self._ungroup is not None:
            pooled = ops.take(pooled, self._ungroup, axis=-1)
        return pooled

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.fields.num_fields)

    def to_stock_keras(self, input_shape=None, name=None):
        """``GlobalAveragePooling3D`` / ``GlobalMaxPooling3D`` of the input (for the
        scalars) and of the field norms (built as in
        :meth:`NormActivation.to_stock_keras`), then a fixed ``Dense`` putting the
        features in field order.  See :meth:`FieldLayer.to_stock_keras`.
        """
        ft = self.fields
        x = stock.stock_input(self, input_shape, ft.dim)
        name = name or self.name
        pool = (
            keras.layers.GlobalAveragePooling3D
            if self.mode == "mean"
            else keras.layers.GlobalMaxPooling3D
        )
        pooled, columns = [], []  # columns: field of each pooled feature (-1: unused)
        if len(self._value_channels):
            pooled.append(stock.apply(pool, x, f"{name}_pool_scalars"))
            columns += [
                f if ft.channel_orders[c] == 0 else -1
                for c, f in enumerate(ft.channel_fields)
            ]
        if len(self._normed_fields):
            norms = stock.field_norms(x, ft, self._normed_fields, self.epsilon, name)[0]
            pooled.append(stock.apply(pool, norms, f"{name}_pool_norms"))
            columns += list(self._normed_fields)
        if len(pooled) > 1:
            pooled = stock.apply(
                keras.layers.Concatenate, pooled, f"{name}_concat", axis=-1
            )
        else:
            pooled = pooled[0]
        matrix = np.zeros((len(columns), ft.num_fields))
        for i, f in enumerate(columns):
            if f >= 0:
                matrix[i, f] = 1.0
        if not np.array_equal(matrix, np.eye(len(columns))):
            pooled = stock.dense(pooled, f"{name}_fields", matrix)
        return keras.Model(x, pooled, name=name)

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "epsilon": self.epsilon})
        return config
