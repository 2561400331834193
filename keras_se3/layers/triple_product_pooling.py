"""`TripleProductPooling`: rotation-invariant features that tell mirror images apart."""

import keras
import numpy as np
from keras import ops

import keras_se3.layers.stock as stock
from keras_se3.field_type import FieldType
from keras_se3.layers.field_layer import FieldLayer

#: The six terms of ``a . (b x c) = sum sign * a_i b_j c_k`` over permutations.
_LEVI_CIVITA = (
    (0, 1, 2, 1.0),
    (1, 2, 0, 1.0),
    (2, 0, 1, 1.0),
    (0, 2, 1, -1.0),
    (2, 1, 0, -1.0),
    (1, 0, 2, -1.0),
)


@keras.saving.register_keras_serializable(package="keras_se3")
class TripleProductPooling(FieldLayer):
    """Spatial means of triple products of vector fields: chirality features.

    ``units`` learnt linear combinations ``a_k, b_k, c_k`` of the input's vector
    (order-1) fields give, at every voxel, ``t_k = a_k . (b_k x c_k)``, whose
    spatial mean is the ``k``-th output.  The features are invariant under
    rotations (exactly for the 24 cube rotations) and change sign under
    reflections: they are pseudo-scalars, what tells a piece from its mirror
    image.

    Why a layer for it: norms, dot products and convolutions of fields that
    come from a density are all even under reflections, and chirality is a
    statistic of fourth order in the density (four points span a handedness,
    three do not), so a chain of gated convolutions reaches it only a few blocks
    deep and, at initialisation, ~1000x weaker than the differences between
    other shapes (docs/results.md).  Vector fields after two gated blocks
    already hold it: the spatial means of their triple products separate the
    two mirror-image Tetris pieces under any rotation at initialisation.
    (After one block the vector fields are still close to gradients, and the
    mean triple product of gradients vanishes.)

    The output scales as the cube of the input: follow it with a
    normalisation (``keras.layers.BatchNormalization``) before mixing it with
    other features.

    **O(3) types**: the input's vector fields must share one parity ``p``; the
    outputs then have parity ``p`` (``0o`` for ``1o`` vectors): a
    reflection-invariant head must square them or drop them.

    Args:
        fields: input field type, with at least 3 fields of order 1.
        units: number of triple products ``k``.
        kernel_initializer: of the ``[n, 3 units]`` mixing weights (``n``
            vector fields; the columns of ``a``, then ``b``, then ``c``); the
            default keeps each combination's norm near the fields' norm.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Input shape:
        ``(batch, x, y, z, fields.dim)``.

    Output shape:
        ``(batch, units)``.

    Example:

    >>> pool = TripleProductPooling("4x0 + 3x1", units=2)
    >>> tuple(pool(np.ones((2, 5, 5, 5, 13))).shape)
    (2, 2)
    """

    TAKES_O3 = True

    def __init__(self, fields, units=16, kernel_initializer=None, **kwargs):
        super().__init__(fields, **kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)):
            raise ValueError(f"`units` must be a positive integer, got {units!r}.")
        if units < 1:
            raise ValueError(f"`units` must be a positive integer, got {units}.")
        self.units = int(units)
        vectors = self.fields.field_orders == 1
        if vectors.sum() < 3:
            raise ValueError(
                f"TripleProductPooling needs at least 3 vector fields (order 1), "
                f"got '{self.fields}': the triple product of combinations of fewer "
                "than 3 vectors is 0 at every voxel. Give it the output of a block "
                "with more vector fields."
            )
        parities = set(self.fields.field_parities[vectors])
        if self.fields.has_parity and len(parities) > 1:
            raise ValueError(
                f"TripleProductPooling mixes the vector fields of '{self.fields}', "
                "which have both parities (1e and 1o): a combination of the two is "
                "not a field of either. Give it vector fields of one parity."
            )
        self._parity = parities.pop() if self.fields.has_parity else None
        # Channels of component i (x, y, z) of every vector field: [3, n].
        self._components = self.fields.channels_of_order(1).reshape(-1, 3).T
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer
            or keras.initializers.RandomNormal(
                stddev=1.0 / np.sqrt(self._components.shape[1])
            )
        )

    @property
    def output_fields(self):
        """``units`` scalars: ``0`` for an SO(3) type, else ``0o`` for ``1o``
        vectors (``0e`` for ``1e``)."""
        if self._parity is None:
            return FieldType([(self.units, 0)])
        return FieldType([(self.units, 0, self._parity)])

    def build(self, input_shape):
        self.check_input_channels(input_shape)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self._components.shape[1], 3 * self.units),
            initializer=self.kernel_initializer,
        )

    def _combinations(self, inputs):
        """``[a, b, c]``, each a list of the 3 components ``[..., units]``."""
        # One matmul per component gives a, b and c side by side.
        dtype = keras.backend.result_type(inputs.dtype, "float32")
        kernel, inputs = ops.cast(self.kernel, dtype), ops.cast(inputs, dtype)
        mixed = [
            ops.matmul(ops.take(inputs, index, axis=-1), kernel)
            for index in self._components
        ]
        parts = [ops.split(m, 3, axis=-1) for m in mixed]  # [component][a, b, c]
        return [[parts[i][j] for i in range(3)] for j in range(3)]

    def call(self, inputs):
        a, b, c = self._combinations(inputs)
        # a . (b x c), summed over the six signed permutations of (x, y, z).
        triple = sum(s * a[i] * b[j] * c[k] for i, j, k, s in _LEVI_CIVITA)
        axes = tuple(range(1, len(inputs.shape) - 1))
        return ops.cast(ops.mean(triple, axis=axes), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def to_stock_keras(self, input_shape=None, name=None):
        """Fixed ``Dense`` layers give the components of ``a, b, c``; ``Multiply``
        the six products of ``a . (b x c)``; a fixed ``Dense`` their signed sum
        (on their ``Concatenate``); ``GlobalAveragePooling3D``.  See
        :meth:`FieldLayer.to_stock_keras`.
        """
        dim, k = self.fields.dim, self.units
        x = stock.stock_input(self, input_shape, dim)
        name = name or self.name
        weights = stock.numpy(self.kernel)  # [n, 3 units]
        vectors = {}
        for j, label in enumerate("abc"):
            for i, axis in enumerate("xyz"):
                kernel = np.zeros((dim, k))
                kernel[self._components[i]] = weights[:, j * k : (j + 1) * k]
                vectors[label, i] = stock.dense(x, f"{name}_{label}{axis}", kernel)
        terms = [
            stock.apply(
                keras.layers.Multiply,
                [vectors["a", i], vectors["b", j], vectors["c", l]],
                f"{name}_term{n}",
            )
            for n, (i, j, l, _) in enumerate(_LEVI_CIVITA)
        ]
        terms = stock.apply(keras.layers.Concatenate, terms, f"{name}_terms", axis=-1)
        signs = np.concatenate([s * np.eye(k) for *_, s in _LEVI_CIVITA])
        triple = stock.dense(terms, f"{name}_triple", signs)
        pool = keras.layers.GlobalAveragePooling3D
        pooled = stock.apply(pool, triple, f"{name}_pool")
        return keras.Model(x, pooled, name=name)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
