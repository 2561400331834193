"""`FieldLayer`: the base of keras_se3's layers on fields, and its channel helpers.

The helpers work on the channel (last) axis with constant numpy index arrays
and ``keras.ops`` only: :func:`select_channels`, :func:`place_channels`,
:func:`channel_matmul`, :func:`spread_matrix`, :func:`field_norms` (the one
field norm of the package) and :func:`scalar_bias` (a bias on the scalar
channels only).
"""

import keras
import numpy as np
from keras import ops

from keras_se3.field_type import FieldType
from keras_se3.layers.stock import selection


def so3_fields(spec, owner):
    """``FieldType(spec)``, refused if it is an O(3) type (parities).

    The guard for a :class:`FieldLayer` subclass that has not opted in to O(3)
    types (``TAKES_O3 = False``, the default: a user's own layer written for
    SO(3) fields).  All of keras_se3's own field layers take O(3) types
    (``"8x0e + 4x1o"``); a layer that does not would otherwise treat their
    fields as SO(3) ones and silently break reflection equivariance.

    Raises:
        ValueError: naming ``owner`` and the type.
    """
    field_type = FieldType(spec)
    if field_type.has_parity:
        raise ValueError(
            f"{owner} does not take O(3) field types (with parities) yet, got "
            f"'{field_type}'. Write the type without 'e'/'o' suffixes for an "
            "SO(3)-equivariant layer."
        )
    return field_type


def _contiguous(index):
    """``slice`` equivalent to the int array ``index`` when it is a range, else None."""
    index = np.asarray(index)
    if len(index) and np.array_equal(index, np.arange(index[0], index[0] + len(index))):
        return slice(int(index[0]), int(index[0]) + len(index))
    return None


def channel_matmul(x, matrix):
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
    return channel_matmul(x, selection(x.shape[-1], index))


def place_channels(y, index, dim):
    """The inverse of :func:`select_channels`: ``out[..., index] = y``, 0 elsewhere."""
    piece = _contiguous(index)
    if piece is not None:
        pads = [(0, 0)] * (len(y.shape) - 1) + [(piece.start, dim - piece.stop)]
        return ops.pad(y, pads) if pads[-1] != (0, 0) else y
    return channel_matmul(y, selection(dim, index).T)


def spread_matrix(field_type, fields):
    """0/1 matrix ``[len(fields), dim]``: row ``i`` is 1 on the channels of field
    ``fields[i]``.  ``y @ M`` copies per-field values to their channels (0 on the
    other channels); ``x @ M.T`` sums each of those fields' channels."""
    field_type = FieldType(field_type)
    fields = np.asarray(fields, dtype=int)
    return (field_type.channel_fields[None, :] == fields[:, None]).astype("float32")


def field_norms(x, field_type, fields, epsilon):
    """Smooth norms ``sqrt(|v|^2 + epsilon)`` of the fields ``fields`` of ``x``.

    Computed in float32 at least (a float16 ``epsilon`` would underflow); the
    result has that dtype and shape ``[..., len(fields)]``.  See
    :class:`FieldLayer` for the choice of ``epsilon``.
    """
    dtype = keras.backend.result_type(x.dtype, "float32")
    squares = ops.square(ops.cast(x, dtype))
    sums = channel_matmul(squares, spread_matrix(field_type, fields).T)
    return ops.sqrt(sums + epsilon)


def scalar_bias(bias, field_type):
    """Per-channel bias ``[dim]``: ``bias`` (one per scalar channel of
    ``field_type``, in channel order) on the scalar channels, 0 on the others (a
    bias on a vector or a pseudo-scalar would break equivariance).  Accepts a
    tensor or numpy."""
    field_type = FieldType(field_type)
    return place_channels(
        ops.convert_to_tensor(bias), field_type.scalar_channels, field_type.dim
    )


class FieldLayer(keras.layers.Layer):
    """Base class of the layers whose inputs are made of irreducible fields.

    Every field layer of keras_se3 subclasses it.  It holds what they share:

    - ``fields``: the field type a single-type layer is built with, parsed by
      :class:`FieldType` (a ``FieldType``, a string like ``"8x0 + 4x1"`` or
      ``(multiplicity, l)`` pairs); ``None`` for layers that name their types
      otherwise (the convolutions' and blocks' ``in_fields`` / ``out_fields``)
      or take any channels (``LowPassDownsampling3D``);
    - the field roles every layer answers alike, :attr:`input_fields` and
      :attr:`output_fields` (for ``Gate`` the input also holds the gates, for
      ``InvariantPooling`` the output is one scalar per field);
    - :meth:`check_input_channels`: the one error for an input whose channel
      count does not match the field type;
    - the field norm, :func:`field_norms`, with one epsilon policy;
    - :func:`scalar_bias`, the bias that only touches scalar channels;
    - :meth:`to_stock_keras`, the export hook of :func:`keras_se3.collapse`.

    **Field norms.**  Every layer that takes the norm of a non-scalar field
    (``NormActivation``, ``InvariantPooling``) uses the smooth norm
    ``|v| = sqrt(sum_c v_c^2 + epsilon)``, computed in float32 at least, with
    ``epsilon = FieldLayer.NORM_EPSILON = 1e-6`` unless the layer is given
    another ``epsilon``.  Its value and gradient are finite at ``v = 0`` for
    any ``epsilon > 0``; the choice of ``1e-6`` bounds both errors it causes:
    the norm is off by at most ``sqrt(epsilon) = 1e-3`` (at ``v = 0``; by
    ``epsilon / (2 |v|) = 5e-7`` at ``|v| = 1``), and the direction ``v / |v|``
    that ``NormActivation`` rescales has a gain of at most
    ``1 / sqrt(epsilon) = 1e3`` near ``v = 0`` -- ``1e-12`` would allow ``1e6``,
    which makes the gradients of near-zero fields explode.

    Subclasses call ``super().__init__(fields, **kwargs)``, override
    :attr:`input_fields` / :attr:`output_fields` where their types differ from
    ``fields``, check the input in ``build`` with :meth:`check_input_channels`,
    and implement :meth:`to_stock_keras`.
    """

    NORM_EPSILON = 1e-6
    #: Whether the layer takes O(3) field types (parities).  Every keras_se3
    #: layer does; a subclass that leaves this False (a user's layer written for
    #: SO(3) fields) refuses them with a clear error (:func:`so3_fields`).
    TAKES_O3 = False
    #: The single type of the layer (None unless the constructor gets one).
    fields = None

    def __init__(self, fields=None, **kwargs):
        super().__init__(**kwargs)
        # A layer built with a field type saves it in its config (get_config).
        self._saves_fields = fields is not None
        if fields is not None:
            self.fields = (
                FieldType(fields)
                if self.TAKES_O3
                else so3_fields(fields, type(self).__name__)
            )

    @property
    def input_fields(self):
        """The field type of the layer's input: a :class:`FieldType`, or None for
        a layer that takes any channels (or whose input type is only known once
        it is built).  Default: ``in_fields`` for a layer that changes the type
        (it takes ``in_fields`` and ``out_fields``), else ``fields``."""
        return getattr(self, "in_fields", self.fields)

    @property
    def output_fields(self):
        """The field type of the layer's output (None: the input's, whatever it
        is).  Default: ``out_fields`` for a layer that changes the type, else
        ``fields``.  What a model builder reads to give the next layer its
        ``in_fields``."""
        return getattr(self, "out_fields", self.fields)

    def get_config(self):
        """Keras's config, with ``fields`` for a layer built with a field type."""
        config = super().get_config()
        if self._saves_fields:
            config["fields"] = str(self.fields)
        return config

    def check_input_channels(self, input_shape, fields=None, label="fields", hint=""):
        """Raise a ``ValueError`` unless ``input_shape[-1] == fields.dim``.

        Args:
            input_shape: the input's shape (last axis: channels).
            fields: the expected field type (default: :attr:`input_fields`).
            label: how the message names the expected type, e.g. ``"in_fields"``.
            hint: what to do about it, appended to the message.
        """
        fields = self.input_fields if fields is None else fields
        channels = input_shape[-1]
        if channels != fields.dim:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects {label}="
                f"{str(fields)!r} ({fields.dim} channels), but the input has "
                f"{channels} channels. "
                + (hint or "Pass the input's field type or fix the input.")
            )

    def to_stock_keras(self, input_shape=None, name=None):
        """This layer in inference mode as a model of stock Keras layers only.

        Used by :func:`keras_se3.collapse`; the result saves to ``.keras`` and
        loads with plain Keras (``safe_mode=True``).  Its weights are float32.

        Args:
            input_shape: the input shape without the batch axis (default: three
                unknown spatial axes and the input's channels).
            name: name of the model and prefix of its layers' names (default:
                the layer's name).

        Returns:
            A functional ``keras.Model`` computing ``self(x, training=False)``.
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not implement to_stock_keras()."
        )
