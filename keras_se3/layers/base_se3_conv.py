"""`BaseSE3Conv`: the steerable kernel shared by `SE3Conv3D` and `SE3Conv3DTranspose`.

Arguments, the basis and coefficient weights, the assembled kernel and the config
live here once; the two subclasses only say how the kernel is applied (a
convolution or its transpose), which grids they take, their output shape and
their stock Keras export.  Keras splits its ``BaseConv`` / ``BaseConvTranspose``
for the same reason.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_se3.basis import (
    basis_size,
    get_basis_config,
    kernel_basis,
    normalize_kernel_size,
    normalize_spacing,
    serialize_basis,
)
from keras_se3.field_type import FieldType
from keras_se3.layers.conv_utils import (
    constant_initializer,
    normalize_padding,
    normalize_triple,
    segmented_initializer,
    ungroup_index,
)
from keras_se3.layers.field_layer import FieldLayer

PARAMETRIZATIONS = ("unit_basis", "scaled_basis")


def _describe(keys):
    """``(l, parity)`` keys in words: ``"orders [0, 1]"``, ``"order 3"`` (SO(3))
    or ``"fields 0e, 1o"`` (O(3))."""
    if keys[0][1] is None:
        orders = [l for l, _ in keys]
        return f"order {orders[0]}" if len(orders) == 1 else f"orders {orders}"
    return "fields " + ", ".join(f"{l}{'e' if p > 0 else 'o'}" for l, p in keys)


class BaseSE3Conv(FieldLayer):
    """The steerable kernel of :class:`SE3Conv3D` and :class:`SE3Conv3DTranspose`.

    Not a layer to use directly: a subclass implements :meth:`check_grid`,
    ``call``, ``compute_output_shape`` and ``to_stock_keras``.  The arguments are
    :class:`SE3Conv3D`'s; their meaning is documented there.
    """

    def __init__(
        self,
        out_fields,
        kernel_size,
        in_fields=None,
        basis="default",
        strides=1,
        padding="same",
        dilation_rate=1,
        spacing=1.0,
        use_bias=True,
        kernel_initializer=None,
        parametrization="unit_basis",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.out_fields = FieldType(out_fields)
        self.in_fields = None if in_fields is None else FieldType(in_fields)
        if self.in_fields is not None and (
            self.in_fields.has_parity != self.out_fields.has_parity
        ):
            raise ValueError(
                f"{type(self).__name__} maps SO(3) fields to SO(3) fields and O(3) "
                f"fields to O(3) fields; got in_fields '{self.in_fields}' and "
                f"out_fields '{self.out_fields}'. Give both types parities (e.g. "
                "'1x0e' for scalars) or neither."
            )
        self.kernel_size = normalize_kernel_size(kernel_size)
        self.basis = get_basis_config(basis)
        self.strides = normalize_triple(strides, "strides")
        self.padding = normalize_padding(padding)
        self.dilation_rate = normalize_triple(dilation_rate, "dilation_rate")
        self.spacing = normalize_spacing(spacing)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = (
            None
            if kernel_initializer is None
            else keras.initializers.get(kernel_initializer)
        )
        if parametrization not in PARAMETRIZATIONS:
            raise ValueError(
                f"`parametrization` must be one of {PARAMETRIZATIONS}, got "
                f"{parametrization!r}."
            )
        self.parametrization = parametrization
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.input_spec = keras.layers.InputSpec(ndim=5)

    # --- build ----------------------------------------------------------------------

    def _sampling_spacing(self):
        return tuple(d * r for d, r in zip(self.spacing, self.dilation_rate))

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                "SE3Conv3D needs a known number of input channels (last axis); "
                f"got input shape {input_shape}."
            )
        if self.in_fields is None:
            # Plain scalars: even ones if the output is an O(3) type.
            parity = (1,) if self.out_fields.has_parity else ()
            self.in_fields = FieldType([(int(channels), 0, *parity)])
        self.check_input_channels(
            input_shape,
            self.in_fields,
            label="in_fields",
            hint="Pass the right `in_fields` or fix the input.",
        )
        self.check_grid(input_shape)
        spacing = self._sampling_spacing()
        # Channels are grouped by irreducible key (l, parity); an SO(3) type has
        # one key per order (parity None), so its segments are the orders'.
        in_keys = self.in_fields.irrep_keys()
        out_keys = self.out_fields.irrep_keys()
        # All pairs' basis kernels live in one flat non-trainable weight and all
        # coefficients in one flat trainable weight: a deep net then has 2-3
        # variables per layer instead of two per pair of orders, which makes
        # construction (variable creation) several times faster.
        self._segments = {}  # (key_in, key_out) -> basis/coefficient offset, shape
        basis_parts, coefficient_inits = [], []
        basis_offset = coefficient_offset = 0
        for key_out in out_keys:
            l_out, p_out = key_out
            sizes = {
                key_in: basis_size(
                    key_in[0],
                    l_out,
                    self.kernel_size,
                    spacing,
                    self.basis,
                    parities=None if p_out is None else (key_in[1], p_out),
                )
                for key_in in in_keys
            }
            fan_in = sum(self.in_fields.multiplicity(*k) for k in in_keys if sizes[k])
            if fan_in == 0:
                raise ValueError(
                    f"Layer '{self.name}': no kernel of this basis couples the input "
                    f"{_describe(in_keys)} to output {_describe([key_out])} at "
                    f"kernel size {self.kernel_size} (the "
                    "angular bandlimit, or for O(3) fields the parity, excludes "
                    "them), so those output fields would be constant zero. Use a "
                    "larger kernel, other field types, or another `basis`."
                    + (
                        " (O(3): from fields of parity (-1)^l alone -- 0e, 1o, 2e, "
                        "... -- no kernel reaches 0o, 1e, 2o, ...)"
                        if p_out is not None
                        else ""
                    )
                )
            for key_in in in_keys:
                n_basis = sizes[key_in]
                if n_basis == 0:
                    continue
                l_in, p_in = key_in
                array = kernel_basis(
                    l_in,
                    l_out,
                    self.kernel_size,
                    spacing,
                    self.basis,
                    parities=None if p_out is None else (p_in, p_out),
                )
                shape = (
                    self.in_fields.multiplicity(l_in, p_in),
                    self.out_fields.multiplicity(l_out, p_out),
                    n_basis,
                )
                std = math.sqrt((2 * l_out + 1) / (n_basis * fan_in))
                if self.parametrization == "scaled_basis":
                    array, std = array * std, 1.0
                initializer = (
                    self.kernel_initializer
                    or keras.initializers.RandomNormal(stddev=std)
                )
                self._segments[key_in, key_out] = (
                    basis_offset,
                    array.shape,
                    coefficient_offset,
                    shape,
                )
                basis_parts.append(array.ravel())
                coefficient_inits.append((initializer, shape))
                basis_offset += array.size
                coefficient_offset += math.prod(shape)
        self.basis_kernels = self.add_weight(
            name="basis_kernels",
            shape=(basis_offset,),
            initializer=constant_initializer(np.concatenate(basis_parts)),
            trainable=False,
        )
        self.coefficients = self.add_weight(
            name="coefficients",
            shape=(coefficient_offset,),
            initializer=segmented_initializer(coefficient_inits),
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            trainable=True,
        )
        self._in_keys, self._out_keys = in_keys, out_keys
        # Where assembled_kernel cuts the flat weights: one split per weight.
        offsets = list(self._segments.values())
        self._basis_cuts = [segment[0] for segment in offsets[1:]]
        self._coefficient_cuts = [segment[2] for segment in offsets[1:]]
        # The kernel is assembled with channels grouped by key; these gathers put
        # the channels back in the field types' order (None when already there).
        self._in_gather = ungroup_index(self.in_fields, in_keys)
        self._out_gather = ungroup_index(self.out_fields, out_keys)
        scalars = self.out_fields.scalar_channels
        if self.use_bias and len(scalars):
            self.bias = self.add_weight(
                name="bias",
                shape=(len(scalars),),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                trainable=True,
            )
        else:
            self.bias = None

    # --- forward ----------------------------------------------------------------------

    def assembled_kernel(self):
        """The ``[kx, ky, kz, C_in, C_out]`` convolution kernel: the coefficients
        times the basis.

        A method, not a property: Keras's saving reads every attribute of a layer,
        and a property would assemble every kernel at each save and load (on JAX,
        hundreds of eager compilations per net).
        """
        k = self.kernel_size
        # One split per flat weight, not a slice per segment: a slice costs a
        # variable read and a strided slice (and its gradient) per coupling, and
        # tracing those was a third of a traced training step of the CATH ResNet.
        parts = zip(
            self._segments,
            _split(self.basis_kernels, self._basis_cuts),
            _split(self.coefficients, self._coefficient_cuts),
        )
        pieces = {key: (basis, weights) for key, basis, weights in parts}
        columns = []
        for l_out, p_out in self._out_keys:
            d_out = self.out_fields.multiplicity(l_out, p_out) * (2 * l_out + 1)
            blocks = []
            for l_in, p_in in self._in_keys:
                d_in = self.in_fields.multiplicity(l_in, p_in) * (2 * l_in + 1)
                key = ((l_in, p_in), (l_out, p_out))
                if key in pieces:
                    basis, weights = pieces[key]
                    _, basis_shape, _, coefficient_shape = self._segments[key]
                    block = ops.einsum(
                        "uvb,bxyzio->xyzuivo",
                        ops.reshape(weights, coefficient_shape),
                        ops.reshape(basis, basis_shape),
                    )
                    block = ops.reshape(block, k + (d_in, d_out))
                else:
                    block = ops.zeros(k + (d_in, d_out), dtype=self.compute_dtype)
                blocks.append(block)
            columns.append(
                ops.concatenate(blocks, axis=3) if len(blocks) > 1 else blocks[0]
            )
        kernel = ops.concatenate(columns, axis=4) if len(columns) > 1 else columns[0]
        if self._in_gather is not None:
            kernel = ops.take(kernel, self._in_gather, axis=3)
        if self._out_gather is not None:
            kernel = ops.take(kernel, self._out_gather, axis=4)
        return kernel

    def check_grid(self, input_shape):
        """Raise a clear error for a grid this convolution cannot take."""
        raise NotImplementedError

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "out_fields": str(self.out_fields),
                "kernel_size": self.kernel_size,
                "in_fields": None if self.in_fields is None else str(self.in_fields),
                "basis": serialize_basis(self.basis),
                "strides": self.strides,
                "padding": self.padding,
                "dilation_rate": self.dilation_rate,
                "spacing": self.spacing,
                "use_bias": self.use_bias,
                "kernel_initializer": None
                if self.kernel_initializer is None
                else keras.initializers.serialize(self.kernel_initializer),
                "parametrization": self.parametrization,
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": keras.constraints.serialize(
                    self.kernel_constraint
                ),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            }
        )
        return config


def _split(flat, cuts):
    """``flat`` cut at the offsets ``cuts`` (the whole of it without cuts)."""
    return ops.split(flat, cuts) if cuts else [flat]
