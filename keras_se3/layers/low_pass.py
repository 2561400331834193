"""`LowPassDownsampling3D`: anti-aliased downsampling (paper section 4.4.2)."""

import math

import keras
import numpy as np
from keras import ops

import keras_se3.layers.stock as stock
from keras_se3.layers.field_layer import FieldLayer


def paper_sigma(factor):
    """The paper's low-pass width for downsampling by ``factor``: ``0.5 sqrt(f^2 - 1)``.

    0.87 input voxels for factor 2; 0 (no filter) for factor 1.
    """
    return 0.5 * math.sqrt(factor**2 - 1)


def gaussian_kernel_1d(factor, sigma=None):
    """The Gaussian low-pass for downsampling by ``factor`` (numpy, sums to 1).

    ``sigma`` (input voxels) defaults to :func:`paper_sigma`; the size is
    ``int(1 + 5 sigma)`` made odd (5 taps for the paper's factor 2), sampled at
    ``-(size-1)/2 .. (size-1)/2``.
    """
    if sigma is None:
        sigma = paper_sigma(factor)
    if sigma == 0:
        return np.ones(1)
    size = int(1 + 5 * sigma)
    size += 1 - size % 2
    t = np.arange(size) - (size - 1) / 2
    kernel = np.exp(-(t**2) / (2 * sigma**2))
    return kernel / kernel.sum()


@keras.saving.register_keras_serializable(package="keras_se3")
class LowPassDownsampling3D(FieldLayer):
    """Downsample a 3D feature map by an integer factor, without aliasing.

    The same linear filter acts on every channel, so the layer is equivariant
    for any field type (rotations act on space and mix channels; this commutes
    with both): it takes any channels, and its output has the input's field
    type (``input_fields`` and ``output_fields`` are None).

    - ``method="gaussian"`` (the paper's): blur with the separable Gaussian of
      :func:`gaussian_kernel_1d` (by default the paper's
      ``sigma = 0.5 * sqrt(factor^2 - 1)``, 5 taps for factor 2), zero-padded
      symmetrically by ``(k - 1) / 2`` on each side, sampled with stride
      ``factor``.  Output voxel ``j`` sits on input voxel ``j * factor``; output size
      ``(n - 1) // factor + 1``.  For odd ``n`` with ``(n - 1) % factor == 0``
      the output grid is centred on the input grid and the layer commutes
      exactly with the 24 rotations of the cube.
    - ``method="average"``: mean of non-overlapping ``factor^3`` blocks; output
      size ``n // factor`` (trailing voxels dropped).  The output grid is centred
      (exact cube-rotation equivariance) when ``n % factor == 0``.

    Both are computed as three 1D passes (depthwise convolutions); the 1D kernel
    is :meth:`blur_kernel_1d`, the padding :attr:`padding` and the 3D kernel
    ``outer(k, k, k)`` (:meth:`blur_kernel_3d`), for export.

    Args:
        factor: integer downsampling factor >= 1 (the same on every axis).
        method: ``"gaussian"`` or ``"average"``.
        sigma: width of the Gaussian in input voxels (``"gaussian"`` only).
            ``None`` (default): the paper's :func:`paper_sigma` (0.87 for factor
            2), which leaves 39 % of the amplitude at the coarse grid's Nyquist
            frequency; a wider one (e.g. 1.2: 16 %) aliases less and blurs more.
            With ``factor=1`` a ``sigma`` gives a plain blur (e.g. of a network's
            input).
        subsample: ``False`` only blurs (Gaussian only; output size = input
            size).  A linear filter commutes with a convolution, so "blur, then a
            strided convolution" equals "convolution, then blur and subsample" away
            from the zero-padded border, at a fraction of the cost: the linear
            shortcut of :class:`SE3ResidualBlock` downsamples that way (not a
            path with a nonlinearity: that must be smoothed after it).
        **kwargs: base ``keras.layers.Layer`` arguments.

    Input shape:
        ``(batch, x, y, z, channels)``.

    Output shape:
        ``(batch, x', y', z', channels)``, ``x' = (x - 1) // factor + 1``
        (gaussian) or ``x // factor`` (average).

    Example:

    >>> down = LowPassDownsampling3D(2)
    >>> tuple(down(np.zeros((2, 9, 9, 9, 10))).shape)
    (2, 5, 5, 5, 10)
    """

    TAKES_O3 = True  # no field type of its own: any input's

    def __init__(
        self, factor=2, method="gaussian", subsample=True, sigma=None, **kwargs
    ):
        super().__init__(None, **kwargs)
        if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)):
            raise ValueError(f"`factor` must be an int >= 1, got {factor!r}.")
        if factor < 1:
            raise ValueError(f"`factor` must be an int >= 1, got {factor!r}.")
        if method not in ("gaussian", "average"):
            raise ValueError(
                f"`method` must be 'gaussian' or 'average', got {method!r}."
            )
        if not subsample and method != "gaussian":
            raise ValueError(
                "`subsample=False` (blur only) needs method='gaussian': the "
                "average filter of an even factor is centred between voxels."
            )
        if sigma is not None:
            if method != "gaussian":
                raise ValueError(
                    f"`sigma` is the width of the Gaussian filter; method={method!r} "
                    "has none. Use method='gaussian' or leave sigma=None."
                )
            if not isinstance(sigma, (int, float, np.number)) or isinstance(
                sigma, bool
            ):
                raise ValueError(f"`sigma` must be a number > 0, got {sigma!r}.")
            if not sigma > 0:
                raise ValueError(f"`sigma` must be a number > 0, got {sigma!r}.")
            sigma = float(sigma)
        self.sigma = sigma
        self.factor = int(factor)
        self.method = method
        self.subsample = bool(subsample)
        self.input_spec = keras.layers.InputSpec(ndim=5)

    def blur_kernel_1d(self):
        """The 1D filter (numpy float64, sums to 1) applied along each axis."""
        if self.method == "average":
            return np.full(self.factor, 1.0 / self.factor)
        return gaussian_kernel_1d(self.factor, self.sigma)

    def blur_kernel_3d(self):
        """The full 3D filter ``[k, k, k]`` (the outer product of the 1D one)."""
        k = self.blur_kernel_1d()
        return np.einsum("i,j,k->ijk", k, k, k)

    @property
    def padding(self):
        """Zeros added on each side of each axis before filtering."""
        if self.method == "average":
            return 0
        return (len(self.blur_kernel_1d()) - 1) // 2

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                "LowPassDownsampling3D needs a known number of channels (last "
                f"axis); got input shape {input_shape}."
            )
        # Depthwise kernels [k, 1, C, 1] and [1, k, C, 1] (2D depthwise passes).
        kernel = self.blur_kernel_1d()
        column = np.tile(kernel[:, None, None, None], (1, 1, channels, 1))
        self._kernel_rows = column  # float64; cast to the input dtype in call
        self._kernel_cols = np.transpose(column, (1, 0, 2, 3))

    def _pad(self, x, axis):
        p = self.padding
        if not p:
            return x
        pads = [(0, 0)] * len(x.shape)
        pads[axis] = (p, p)
        return ops.pad(x, pads)

    def call(self, inputs):
        if self.factor == 1 and self._kernel_rows.shape[0] == 1:
            return inputs  # the filter is the identity (kernel built in build)
        f = self.factor if self.subsample else 1
        rows = ops.convert_to_tensor(self._kernel_rows, dtype=inputs.dtype)
        cols = ops.convert_to_tensor(self._kernel_cols, dtype=inputs.dtype)
        shape = ops.shape(inputs)
        batch, nx, ny, nz, c = shape
        # Pass 1, along x: [B, X, Y*Z, C].
        x = ops.reshape(inputs, (batch, nx, ny * nz, c))
        x = self._filter(self._pad(x, 1), rows, f, axis=1)
        mx = ops.shape(x)[1]
        # Passes 2 and 3, along y then z: [B*X', Y, Z, C].
        x = ops.reshape(x, (batch * mx, ny, nz, c))
        x = self._filter(self._pad(x, 1), rows, f, axis=1)
        x = self._filter(self._pad(x, 2), cols, f, axis=2)
        my, mz = ops.shape(x)[1], ops.shape(x)[2]
        return ops.reshape(x, (batch, mx, my, mz, c))

    @staticmethod
    def _filter(x, kernel, stride, axis):
        """Depthwise 1D filter along ``axis`` (1 or 2) of ``[N, H, W, C]``, then
        keep every ``stride``-th sample.  The strides are applied by slicing, not
        by the convolution: TensorFlow's CPU kernels outside oneDNN (float64, or
        ``TF_ENABLE_ONEDNN_OPTS=0``) reject unequal strides like ``(2, 1)``."""
        x = ops.depthwise_conv(x, kernel, strides=1, padding="valid")
        if stride == 1:
            return x
        return x[:, ::stride] if axis == 1 else x[:, :, ::stride]

    def _output_size(self, n):
        if n is None or not self.subsample:
            return n
        size = (
            n // self.factor if self.method == "average" else (n - 1) // self.factor + 1
        )
        if size <= 0:
            raise ValueError(
                f"Layer '{self.name}': a spatial axis of size {n} is too small to "
                f"downsample by {self.factor} with method {self.method!r}."
            )
        return size

    def compute_output_shape(self, input_shape):
        spatial = [self._output_size(n) for n in input_shape[1:4]]
        return (input_shape[0], *spatial, input_shape[4])

    def to_stock_keras(self, input_shape=None, name=None):
        """Stock layers computing this filter (the export hook of
        :func:`keras_se3.collapse`; arguments and result as in
        ``FieldLayer.to_stock_keras``).

        ``"average"``: an ``AveragePooling3D``.  ``"gaussian"``: per axis, a
        ``ZeroPadding3D`` and the symmetric filter written as a sum of nested box
        filters (``Cropping3D``, ``AveragePooling3D`` with the subsampling stride,
        ``Rescaling``, ``Add``): depthwise, ``O(channels)`` per voxel like the
        original.  No layer at all when the filter is the identity.
        """
        channels = None if input_shape is None else input_shape[-1]
        x = inputs = stock.stock_input(self, input_shape, channels)
        name = name or self.name
        f = self.factor if self.subsample else 1
        w = self.blur_kernel_1d()
        if f == 1 and len(w) == 1:
            return keras.Model(inputs, inputs, name=name)
        if self.method == "average":
            y = stock.apply(
                keras.layers.AveragePooling3D, x, name, pool_size=f, strides=f
            )
            return keras.Model(inputs, y, name=name)
        p = (len(w) - 1) // 2
        # Symmetric filter = sum over r of c_r * (box of width 2r + 1), nested boxes.
        half = np.append(w[p:], 0.0)
        coeffs = [(2 * r + 1) * (half[r] - half[r + 1]) for r in range(p + 1)]
        for axis, label in enumerate("xyz"):
            pads = [(0, 0)] * 3
            pads[axis] = (p, p)
            padded = stock.apply(
                keras.layers.ZeroPadding3D,
                x,
                f"{name}_pad_{label}",
                padding=tuple(pads),
            )
            terms = []
            for r, c in enumerate(coeffs):
                if c == 0.0:
                    continue
                piece = padded
                if p - r:
                    crop = [(0, 0)] * 3
                    crop[axis] = (p - r, p - r)
                    piece = stock.apply(
                        keras.layers.Cropping3D,
                        piece,
                        f"{name}_crop_{label}{r}",
                        cropping=tuple(crop),
                    )
                size, stride = [1, 1, 1], [1, 1, 1]
                size[axis], stride[axis] = 2 * r + 1, f
                if size[axis] > 1 or f > 1:
                    piece = stock.apply(
                        keras.layers.AveragePooling3D,
                        piece,
                        f"{name}_box_{label}{r}",
                        pool_size=tuple(size),
                        strides=tuple(stride),
                    )
                terms.append(
                    stock.apply(
                        keras.layers.Rescaling,
                        piece,
                        f"{name}_scale_{label}{r}",
                        scale=c,
                    )
                )
            x = stock.add(terms, f"{name}_sum_{label}")
        return keras.Model(inputs, x, name=name)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "factor": self.factor,
                "method": self.method,
                "subsample": self.subsample,
                "sigma": self.sigma,
            }
        )
        return config
