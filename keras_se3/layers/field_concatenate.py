"""`FieldConcatenate`: feature maps of several field types joined channel-wise."""

import keras
from keras import ops

import keras_se3.layers.stock as stock
from keras_se3.field_type import FieldType
from keras_se3.layers.field_layer import FieldLayer


@keras.saving.register_keras_serializable(package="keras_se3")
class FieldConcatenate(FieldLayer):
    """Join feature maps of field types ``a, b, ...`` into one map of type
    ``a + b + ...`` (the skip connections of a U-Net).

    The channels are concatenated in the order of the inputs, so the output's
    field type is the sum of the input types in that order; the layer carries it
    as :attr:`output_fields`, which the next layer takes as its ``in_fields``.
    Concatenation commutes with rotations: each part keeps its own fields.

    Args:
        fields: the field type of each input, in order (``FieldType`` or
            strings like ``"8x0 + 4x1"``); at least two, all SO(3) types or all
            O(3) types (with parities).
        **kwargs: base ``keras.layers.Layer`` arguments.

    Input shape:
        a list of tensors ``(batch, x, y, z, fields[i].dim)`` with equal batch and
        spatial sizes.

    Output shape:
        ``(batch, x, y, z, output_fields.dim)``.

    Example:

    >>> join = FieldConcatenate(["4x0 + 1x1", "2x1"])
    >>> str(join.output_fields)
    '4x0 + 1x1 + 2x1'
    >>> skip, up = np.ones((1, 4, 4, 4, 7)), np.ones((1, 4, 4, 4, 6))
    >>> tuple(join([skip, up]).shape)
    (1, 4, 4, 4, 13)
    """

    TAKES_O3 = True

    def __init__(self, fields, **kwargs):
        super().__init__(**kwargs)
        if isinstance(fields, (str, FieldType)) or len(fields) < 2:
            raise ValueError(
                "FieldConcatenate takes a list of the field types of its inputs, "
                f"at least two, got {fields!r}."
            )
        self.parts = [FieldType(f) for f in fields]
        if len({part.has_parity for part in self.parts}) > 1:
            raise ValueError(
                "FieldConcatenate cannot join SO(3) and O(3) field types, got "
                f"{[str(p) for p in self.parts]}: write every type with parities "
                "('e'/'o') or none."
            )
        self.joined = sum(self.parts[1:], self.parts[0])

    @property
    def input_fields(self):
        """The list of the inputs' field types."""
        return list(self.parts)

    @property
    def output_fields(self):
        """The sum of the input types, in the inputs' order."""
        return self.joined

    def build(self, input_shape):
        if len(input_shape) != len(self.parts):
            raise ValueError(
                f"Layer '{self.name}' (FieldConcatenate) takes {len(self.parts)} "
                f"inputs, got {len(input_shape)}: one field type per input."
            )
        for i, (shape, part) in enumerate(zip(input_shape, self.parts)):
            self.check_input_channels(shape, part, label=f"fields[{i}]")
        self._check_grids(input_shape)

    def _check_grids(self, shapes):
        """Raise a clear error for inputs of different (known) grid sizes."""
        grids = {tuple(shape[1:-1]) for shape in shapes}
        if len({g for g in grids if None not in g}) > 1:
            raise ValueError(
                f"Layer '{self.name}' (FieldConcatenate) needs inputs of one grid "
                f"size, got shapes {[tuple(s) for s in shapes]}: crop or pad the "
                "skip connection to the upsampled grid (in se3_unet: use a grid size "
                "from keras_se3.models.unet_grid_sizes)."
            )

    def call(self, inputs):
        # Built on unknown sizes (None), the grids are checked when known.
        self._check_grids([tuple(x.shape) for x in inputs])
        return ops.concatenate(list(inputs), axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:-1]) + (self.joined.dim,)

    def to_stock_keras(self, input_shape=None, name=None):
        """``keras.layers.Concatenate``.  ``input_shape``: one shape per input.
        See :meth:`FieldLayer.to_stock_keras`."""
        shapes = input_shape or [None] * len(self.parts)
        inputs = [
            stock.stock_input(self, shape, part.dim)
            for shape, part in zip(shapes, self.parts)
        ]
        name = name or self.name
        outputs = stock.apply(keras.layers.Concatenate, inputs, f"{name}_concat")
        return keras.Model(inputs, outputs, name=name)

    def get_config(self):
        config = super().get_config()
        config["fields"] = [str(part) for part in self.parts]
        return config
