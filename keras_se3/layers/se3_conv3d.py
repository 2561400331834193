"""`SE3Conv3D`: the steerable 3D convolution of Weiler et al. (2018)."""

import keras
from keras import ops

import keras_se3.layers.stock as stock
from keras_se3.layers.base_se3_conv import BaseSE3Conv
from keras_se3.layers.conv_padding import (
    output_spatial,
    pad_for_conv,
    symmetric_padding,
)
from keras_se3.layers.field_layer import scalar_bias


@keras.saving.register_keras_serializable(package="keras_se3")
class SE3Conv3D(BaseSE3Conv):
    """SE(3)-equivariant 3D convolution between fields of given types.

    The kernel is a learned combination of a fixed steerable basis
    (:func:`keras_se3.basis.kernel_basis`).  The basis kernels of every pair of
    orders ``(l_in, l_out)`` are a non-trainable weight (``basis_kernels``, stored
    with the model); their coefficients are the trainable weight
    (``coefficients``, ``[mult_in, mult_out, n_basis]`` per pair, flattened).
    ``call`` assembles the full
    ``[kx, ky, kz, C_in, C_out]`` kernel (:meth:`assembled_kernel`) with one einsum
    per pair of orders and
    runs one ordinary convolution, so the cost is that of a ``Conv3D``.

    Rotations act as ``[R f](x) = D(R) f(R^-1 x)``; with ``strides=1`` the layer
    commutes with them: exactly for the 24 rotations of the cube, up to the
    grid's discretisation error for other rotations.  With O(3) field types
    (parities, ``"4x0e + 2x1o"``) it also commutes with reflections (exactly for
    the 48 symmetries of the cube): the basis of each pair keeps the angular
    orders the parities allow (docs/design.md), and only even scalars get a bias.

    Args:
        out_fields: output field type (``FieldType``, string like
            ``"8x0 + 4x1 + 2x2"`` or ``"8x0e + 4x1o"``, or list of
            ``(multiplicity, l)``).
        kernel_size: odd int or 3 odd ints.
        in_fields: input field type, SO(3) if ``out_fields`` is, else O(3).
            ``None``: every input channel is a (even) scalar.
        basis: ``"default"`` (low aliasing under non-grid rotations), ``"paper"``
            (the paper's / se3cnn's basis), a ``keras_se3.basis.BasisConfig`` or
            its dict.
        strides: int or 3 ints.  Stride 1 is the equivariant path.  A larger
            stride subsamples the output and aliases (the paper's Tetris net falls
            from 99% to 36% accuracy with strided convs): prefer stride 1 followed
            by anti-aliased downsampling.
        padding: ``"same"`` (output size ``ceil(n / stride)``), ``"valid"``, or an
            int / 3 ints of zero padding.  Padding is always symmetric (unlike
            TensorFlow's ``"same"`` with strides, which would shift the grid).
        dilation_rate: int or 3 ints; the basis is sampled on the dilated grid.
        spacing: voxel size, one number or ``(dx, dy, dz)`` for anisotropic grids.
        use_bias: add a learned bias to scalar output fields (only to them: a
            bias on a vector would break equivariance).
        kernel_initializer: initializer of the basis coefficients.  ``None``
            (default): the variance that keeps unit-variance input at unit
            variance, ``std = sqrt((2 l_out + 1) / (n_basis * n_in_fields))`` per
            pair of orders (see ``parametrization`` for where ``std`` goes).
        parametrization: where that ``std`` lives.  ``"unit_basis"`` (default):
            every basis kernel has unit norm and the coefficients are drawn with
            standard deviation ``std``.  ``"scaled_basis"`` (se3cnn's): the basis
            kernels are scaled by ``std`` and the coefficients drawn from
            ``N(0, 1)``.  The initial kernel has the same distribution either way,
            but Adam-like optimizers take steps of about the learning rate in
            *coefficient* units: with ``"scaled_basis"`` every pair of orders
            moves by the same fraction of its scale, with ``"unit_basis"`` wide
            layers (small ``std``) move relatively faster than narrow ones.
            Without batch norm the paper's Tetris net fitted its 8 training
            pieces reliably only with ``"scaled_basis"`` (docs/results.md).
        bias_initializer, kernel_regularizer, bias_regularizer,
        kernel_constraint, bias_constraint: as in ``keras.layers.Conv3D``; the
            "kernel" ones act on the coefficients.
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``,
            ``activity_regularizer``, ...).

    Input shape:
        ``(batch, x, y, z, in_fields.dim)``.

    Output shape:
        ``(batch, x', y', z', out_fields.dim)``.

    Example:

    >>> from keras_se3 import SE3Conv3D
    >>> layer = SE3Conv3D("4x0 + 2x1", kernel_size=5, in_fields="1x0")
    >>> tuple(layer(np.zeros((2, 16, 16, 16, 1))).shape)
    (2, 16, 16, 16, 10)
    """

    def check_grid(self, input_shape):
        """Raise a clear error for a grid the kernel does not fit (the backend's
        would name neither the layer nor the sizes that work)."""
        output_spatial(self, input_shape)

    def call(self, inputs, training=None):
        self.check_grid(inputs.shape)
        # `training` picks how the zeros are added, not what is computed.
        inputs, padding = pad_for_conv(self, inputs, training)
        outputs = ops.conv(
            inputs,
            self.assembled_kernel(),
            strides=self.strides,
            padding=padding,
            data_format="channels_last",
            dilation_rate=self.dilation_rate,
        )
        if self.bias is not None:
            outputs = outputs + scalar_bias(self.bias, self.out_fields)
        return outputs

    def compute_output_shape(self, input_shape):
        spatial = output_spatial(self, input_shape)
        return (input_shape[0], *spatial, self.out_fields.dim)

    def to_stock_keras(self, input_shape=None, name=None):
        """A ``Conv3D`` holding the assembled kernel and the scalar bias (after a
        ``ZeroPadding3D`` where the padding is explicit).  See
        :meth:`FieldLayer.to_stock_keras`."""
        inputs = x = stock.stock_input(self, input_shape, self.in_fields.dim)
        name = name or self.name
        weights = [stock.numpy(self.assembled_kernel())]
        if self.bias is not None:
            weights.append(stock.numpy(scalar_bias(self.bias, self.out_fields)))
        padding = "same"  # for odd kernels at stride 1, Keras's is symmetric
        if not (self.padding == "same" and self.strides == (1, 1, 1)):
            padding = "valid"
            pad = symmetric_padding(self.padding, self.kernel_size, self.dilation_rate)
            if pad is not None and any(pad):
                x = stock.apply(
                    keras.layers.ZeroPadding3D, x, f"{name}_pad", padding=pad
                )
        y = stock.apply(
            keras.layers.Conv3D,
            x,
            name,
            self.out_fields.dim,
            self.kernel_size,
            strides=self.strides,
            padding=padding,
            dilation_rate=self.dilation_rate,
            use_bias=self.bias is not None,
            weights=weights,
        )
        return keras.Model(inputs, y, name=name)
