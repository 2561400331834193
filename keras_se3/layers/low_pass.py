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

    Both are computed as three 1D passes, one per axis, each only at the kept
    samples, by average poolings with the subsampling stride: the Gaussian as a
    sum of nested box filters (:meth:`box_filters`), which the export writes with
    the same stock pooling layers.  The 1D filter is :meth:`blur_kernel_1d`, the
    padding :attr:`padding`, the 3D kernel ``outer(k, k, k)``
    (:meth:`blur_kernel_3d`).

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
        # The filter's numbers, once (call only reads them).
        self._identity = not (self.subsample and self.factor > 1) and (
            len(self.blur_kernel_1d()) == 1
        )
        self._boxes = self.box_filters() if method == "gaussian" else None

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

    def box_filters(self):
        """The Gaussian filter as nested box filters: ``(p, [(r, c_r), ...])``.

        A symmetric filter ``w`` of half-width ``p`` whose taps do not grow away
        from the centre is ``sum_r c_r * box_r`` with ``box_r`` the mean over the
        ``2 r + 1`` samples around the centre and
        ``c_r = (2 r + 1) (w_r - w_(r+1))`` (``w_r``: the tap at distance ``r``,
        ``w_(p+1) = 0``).  Each box
        is an average pooling, which also subsamples: the layer computes the
        filter this way, and its export (:meth:`to_stock_keras`) writes it so
        with stock pooling layers.  Terms with ``c_r = 0`` are left out.
        """
        w = self.blur_kernel_1d()
        p = (len(w) - 1) // 2
        half = np.append(w[p:], 0.0)
        terms = [(r, (2 * r + 1) * (half[r] - half[r + 1])) for r in range(p + 1)]
        return p, [(r, float(c)) for r, c in terms if c != 0.0]

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(
                "LowPassDownsampling3D needs a known number of channels (last "
                f"axis); got input shape {input_shape}."
            )

    def call(self, inputs):
        if self._identity:
            return inputs
        f = self.factor if self.subsample else 1
        batch, nx, ny, nz, c = ops.shape(inputs)
        # Pass 1, along x: [B, X, Y*Z, C]; passes 2 and 3, along y then z:
        # [B*X', Y, Z, C].  2D poolings: TensorFlow has no float64 3D pooling.
        x = self._filter(ops.reshape(inputs, (batch, nx, ny * nz, c)), 1, f)
        mx = ops.shape(x)[1]
        x = ops.reshape(x, (batch * mx, ny, nz, c))
        x = self._filter(self._filter(x, 1, f), 2, f)
        return ops.reshape(x, (batch, mx, ops.shape(x)[1], ops.shape(x)[2], c))

    def _filter(self, x, axis, stride):
        """The 1D filter along ``axis`` (1 or 2) of ``[N, H, W, C]``, computed only
        at every ``stride``-th sample: average poolings with that stride, one per
        box of :meth:`box_filters` (one of width ``factor`` for "average")."""
        size, steps = [1, 1], [1, 1]
        steps[axis - 1] = stride
        if self.method == "average":
            size[axis - 1] = self.factor
            return ops.average_pool(x, tuple(size), tuple(steps), padding="valid")
        p, terms = self._boxes
        pads = [(0, 0)] * 4
        pads[axis] = (p, p)
        padded = ops.pad(x, pads)
        total = None
        for r, c in terms:
            piece = padded
            if p - r:  # the box of half-width r, centred on the same samples
                index = [slice(None)] * 4
                index[axis] = slice(p - r, -(p - r))
                piece = piece[tuple(index)]
            size[axis - 1] = 2 * r + 1
            if size[axis - 1] > 1 or stride > 1:
                piece = ops.average_pool(
                    piece, tuple(size), tuple(steps), padding="valid"
                )
            piece = piece * ops.cast(c, piece.dtype)
            total = piece if total is None else total + piece
        return total

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
        p, terms = self.box_filters()  # the filter as the layer computes it
        for axis, label in enumerate("xyz"):
            pads = [(0, 0)] * 3
            pads[axis] = (p, p)
            padded = stock.apply(
                keras.layers.ZeroPadding3D,
                x,
                f"{name}_pad_{label}",
                padding=tuple(pads),
            )
            scaled = []
            for r, c in terms:
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
                scaled.append(
                    stock.apply(
                        keras.layers.Rescaling,
                        piece,
                        f"{name}_scale_{label}{r}",
                        scale=c,
                    )
                )
            x = stock.add(scaled, f"{name}_sum_{label}")
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
