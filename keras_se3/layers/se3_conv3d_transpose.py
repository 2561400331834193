"""`SE3Conv3DTranspose`: the equivariant transposed (up-sampling) convolution."""

import keras
import numpy as np
from keras import ops

import keras_se3.layers.stock as stock
from keras_se3.layers.base_se3_conv import BaseSE3Conv
from keras_se3.layers.field_layer import scalar_bias


@keras.saving.register_keras_serializable(package="keras_se3")
class SE3Conv3DTranspose(BaseSE3Conv):
    """SE(3)-equivariant transposed 3D convolution, for decoders (e.g. U-Nets).

    The adjoint structure of :class:`SE3Conv3D`: every input voxel scatters a
    steerable kernel (same basis, same weights layout) into the output.  With
    ``strides=s`` the output grid is ``s`` times finer and **stays centred**: input
    voxel ``i`` sits on output voxel ``s * i``, so the output has
    ``s * (n - 1) + 1`` voxels along an axis of ``n`` (``padding="same"``).  This
    is what keeps the layer exactly equivariant under the 24 cube rotations; it is
    also the inverse of the sizes of ``LowPassDownsampling3D`` and of a strided
    ``SE3Conv3D`` on odd grids (``n -> (n - 1) / s + 1``).  (Keras's
    ``Conv3DTranspose`` with ``"same"`` gives ``s * n`` voxels, which cannot be
    centred on the input grid.)

    Args:
        out_fields, kernel_size, in_fields, basis, spacing, use_bias,
        kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, kernel_constraint, bias_constraint: as in
            :class:`SE3Conv3D`.
        strides: int or 3 ints, the up-sampling factor.
        padding: ``"same"`` (output ``s * (n - 1) + 1``) or ``"valid"`` (the full
            scatter, ``s * (n - 1) + k``; also centred).

    Input shape:
        ``(batch, x, y, z, in_fields.dim)``.

    Output shape:
        ``(batch, s (x - 1) + 1, ..., out_fields.dim)`` with ``"same"``.

    Example:

    >>> from keras_se3 import SE3Conv3DTranspose
    >>> up = SE3Conv3DTranspose("2x0 + 1x1", 3, in_fields="4x0", strides=2)
    >>> tuple(up(np.zeros((1, 5, 5, 5, 4))).shape)
    (1, 9, 9, 9, 5)
    """

    def __init__(
        self,
        out_fields,
        kernel_size,
        in_fields=None,
        basis="default",
        strides=1,
        padding="same",
        **kwargs,
    ):
        # SE3Conv3D's signature, less what a transposed conv has no use for.
        if kwargs.get("dilation_rate", 1) not in (1, (1, 1, 1)):
            raise ValueError("SE3Conv3DTranspose does not support `dilation_rate`.")
        kwargs.pop("dilation_rate", None)
        if not (isinstance(padding, str) and padding.lower() in ("same", "valid")):
            raise ValueError(
                f"SE3Conv3DTranspose takes padding 'same' or 'valid', got {padding!r}."
            )
        super().__init__(
            out_fields,
            kernel_size,
            in_fields=in_fields,
            basis=basis,
            strides=strides,
            padding=padding,
            **kwargs,
        )

    def check_grid(self, input_shape):
        # Every input grid has an output: a voxel scatters a whole kernel (no
        # "too small for the kernel" as for SE3Conv3D).
        for n in input_shape[1:4]:
            if n is not None and n < 1:
                raise ValueError(
                    f"Layer '{self.name}' got an empty grid: input shape "
                    f"{tuple(input_shape)}."
                )

    def call(self, inputs):
        # conv_transpose wants [kx, ky, kz, C_out, C_in].
        kernel = ops.transpose(self.assembled_kernel(), (0, 1, 2, 4, 3))
        outputs = ops.conv_transpose(
            inputs,
            kernel,
            strides=self.strides,
            padding="valid",
            data_format="channels_last",
        )
        if self.padding == "same":
            # Crop the kernel's half-width on both sides: symmetric, grid centred.
            crop = [
                slice((k - 1) // 2, -((k - 1) // 2) or None) for k in self.kernel_size
            ]
            outputs = outputs[:, crop[0], crop[1], crop[2], :]
        if self.bias is not None:
            outputs = outputs + scalar_bias(self.bias, self.out_fields)
        return outputs

    def compute_output_shape(self, input_shape):
        spatial = []
        for n, k, s in zip(input_shape[1:4], self.kernel_size, self.strides):
            if n is None:
                spatial.append(None)
            else:
                size = s * (n - 1) + 1
                spatial.append(size if self.padding == "same" else size + k - 1)
        return (input_shape[0], *spatial, self.out_fields.dim)

    def to_stock_keras(self, input_shape=None, name=None):
        """A ``Conv3DTranspose`` holding the assembled kernel and the scalar bias,
        then (``padding="same"``) a ``Cropping3D`` of the kernel's half-width.
        See :meth:`FieldLayer.to_stock_keras`."""
        x = stock.stock_input(self, input_shape, self.in_fields.dim)
        name = name or self.name
        # Conv3DTranspose wants [kx, ky, kz, C_out, C_in].
        weights = [np.transpose(stock.numpy(self.assembled_kernel()), (0, 1, 2, 4, 3))]
        if self.bias is not None:
            weights.append(stock.numpy(scalar_bias(self.bias, self.out_fields)))
        y = stock.apply(
            keras.layers.Conv3DTranspose,
            x,
            name,
            self.out_fields.dim,
            self.kernel_size,
            strides=self.strides,
            padding="valid",
            use_bias=self.bias is not None,
            weights=weights,
        )
        crop = tuple(((k - 1) // 2,) * 2 for k in self.kernel_size)
        if self.padding == "same" and any(c for c, _ in crop):
            y = stock.apply(keras.layers.Cropping3D, y, f"{name}_crop", cropping=crop)
        return keras.Model(x, y, name=name)

    def get_config(self):
        config = super().get_config()
        config.pop("dilation_rate")
        return config
