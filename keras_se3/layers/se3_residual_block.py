"""`SE3ResidualBlock`: the residual block of the paper's CATH network."""

import warnings

import keras

import keras_se3.layers.stock as stock
from keras_se3.field_type import FieldType
from keras_se3.layers.field_batch_norm import FieldBatchNormalization
from keras_se3.layers.field_layer import FieldLayer
from keras_se3.layers.low_pass import LowPassDownsampling3D
from keras_se3.layers.se3_conv3d import SE3Conv3D
from keras_se3.layers.se3_gated_conv3d import SE3GatedConv3D

#: The options the block passes to its gated layer, saved as that layer reads them.
_GATED_OPTIONS = (
    "basis", "strides", "downsampling", "lowpass_sigma", "activation",
    "gate_activation", "odd_activation", "batch_norm", "momentum",
    "synchronized_batch_norm", "dropout", "use_bias", "kernel_initializer",
    "parametrization", "kernel_regularizer", "kernel_constraint",
)  # fmt: skip


@keras.saving.register_keras_serializable(package="keras_se3")
class SE3ResidualBlock(FieldLayer):
    """Residual block: gated conv -> steerable conv, plus a shortcut.

    Main path: :class:`SE3GatedConv3D` (``in_fields -> hidden_fields``, with
    ``strides``), then :class:`SE3Conv3D` (``hidden_fields -> out_fields``; no
    bias, no activation, no gates), each optionally followed by parameter-free
    field batch norm.
    Shortcut: the identity where the type and resolution are unchanged,
    otherwise a :class:`SE3Conv3D` of the same kernel size (no bias, no
    activation) followed by the same downsampling.  The sum is not followed by
    a nonlinearity (the next block's gate provides it).  This is the layout of
    se3cnn's ``SE3ResNet34Small``, which gives the paper's CATH parameter count.

    Args:
        hidden_fields: field type of the inner (gated) layer (the deprecated
            keyword ``fields`` still works, with a ``DeprecationWarning``).
        kernel_size: odd int.
        in_fields: input field type (``None``: every channel a scalar).
        out_fields: output field type (``None``: ``hidden_fields``).
        basis, strides, downsampling, lowpass_sigma, activation,
        gate_activation, odd_activation, batch_norm, momentum,
        synchronized_batch_norm, dropout, use_bias: of the gated layer, as in
        :class:`SE3GatedConv3D` (``lowpass_sigma`` also for the shortcut's
        low-pass).  The field types are all SO(3) or all O(3) (with parities).
        kernel_initializer, parametrization, kernel_regularizer,
        kernel_constraint: of the basis coefficients of all three convolutions
        (gated, second, shortcut), as in :class:`SE3Conv3D`.  The padding is
        always ``"same"``: the residual sum needs both paths on one grid.
        **kwargs: base layer arguments.

    Input shape:
        ``(batch, x, y, z, in_fields.dim)``.

    Output shape:
        ``(batch, x', y', z', out_fields.dim)``.

    Example:

    >>> from keras_se3 import SE3ResidualBlock
    >>> block = SE3ResidualBlock("2x0 + 2x1", 3, in_fields="2x0 + 2x1")
    >>> tuple(block(np.zeros((1, 9, 9, 9, 8))).shape)
    (1, 9, 9, 9, 8)
    """

    TAKES_O3 = True

    def __init__(
        self,
        hidden_fields=None,
        kernel_size=None,
        in_fields=None,
        out_fields=None,
        basis="default",
        strides=1,
        downsampling="gaussian",
        activation="relu",
        batch_norm=False,
        momentum=0.99,
        synchronized_batch_norm=False,
        kernel_initializer=None,
        parametrization="unit_basis",
        odd_activation="tanh",
        gate_activation="sigmoid",
        lowpass_sigma=None,
        dropout=0.0,
        use_bias=True,
        kernel_regularizer=None,
        kernel_constraint=None,
        **kwargs,
    ):
        if "fields" in kwargs:  # the earlier name: deprecated, still accepted
            if hidden_fields is not None:
                raise ValueError(
                    "SE3ResidualBlock got both `hidden_fields` and `fields`; pass "
                    "the inner field type once, as `hidden_fields`."
                )
            warnings.warn(
                "keras_se3.SE3ResidualBlock(fields=...) is deprecated: the inner "
                "field type is `hidden_fields` (every layer's `fields` is the type "
                "it keeps).",
                DeprecationWarning,
                stacklevel=2,
            )
            hidden_fields = kwargs.pop("fields")
        if hidden_fields is None or kernel_size is None:
            raise TypeError(
                "SE3ResidualBlock needs `hidden_fields` (the inner field type, e.g. "
                "'8x0 + 4x1') and `kernel_size`."
            )
        super().__init__(None, **kwargs)
        self.hidden_fields = FieldType(hidden_fields)
        self.out_fields = FieldType(
            out_fields if out_fields is not None else hidden_fields
        )
        self.kernel_size = kernel_size
        self.basis = basis
        self.strides = strides
        self.downsampling = downsampling
        self.activation = activation
        self.batch_norm = bool(batch_norm)
        self.momentum = momentum
        self.synchronized_batch_norm = bool(synchronized_batch_norm)
        self.kernel_initializer = kernel_initializer
        self.parametrization = parametrization
        self.lowpass_sigma = lowpass_sigma
        # The coefficients' options, the same for the three convolutions.
        self._coefficients = dict(
            kernel_initializer=kernel_initializer,
            parametrization=parametrization,
            kernel_regularizer=kernel_regularizer,
            kernel_constraint=kernel_constraint,
        )
        policy = self.dtype_policy
        self.gated = SE3GatedConv3D(
            self.hidden_fields,
            kernel_size,
            in_fields=in_fields,
            basis=basis,
            strides=strides,
            downsampling=downsampling,
            lowpass_sigma=lowpass_sigma,
            activation=activation,
            gate_activation=gate_activation,
            odd_activation=odd_activation,
            batch_norm=batch_norm,
            momentum=momentum,
            synchronized_batch_norm=synchronized_batch_norm,
            dropout=dropout,
            use_bias=use_bias,
            **self._coefficients,
            dtype=policy,
            name="gated",
        )
        self.conv = SE3Conv3D(
            self.out_fields,
            kernel_size,
            in_fields=self.hidden_fields,
            basis=basis,
            use_bias=False,
            **self._coefficients,
            dtype=policy,
            name="conv",
        )
        self.norm = self._make_norm("norm")
        self.shortcut = None
        self.shortcut_blur = None
        self.shortcut_pool = None
        self.shortcut_norm = None

    def _make_norm(self, name):
        if not self.batch_norm:
            return None
        return FieldBatchNormalization(
            self.out_fields,
            momentum=self.momentum,
            center=False,
            scale=False,
            synchronized=self.synchronized_batch_norm,
            dtype=self.dtype_policy,
            name=name,
        )

    @property
    def in_fields(self):
        return self.gated.in_fields

    def build(self, input_shape):
        self.gated.build(input_shape)
        in_fields = self.gated.in_fields
        inner = self.gated.compute_output_shape(input_shape)
        self.conv.build(inner)
        if self.norm is not None:
            self.norm.build(self.conv.compute_output_shape(inner))
        if in_fields != self.out_fields or self.strides > 1:
            # The shortcut is linear, so its Gaussian downsampling can blur first
            # and convolve with stride (the same map as convolution, low-pass,
            # subsampling, at 1/8 of the cost; the main path must low-pass after
            # its gate). Average = conv, pool; strided = bare strided conv.
            shape = input_shape
            if self.strides > 1 and self.downsampling == "gaussian":
                self.shortcut_blur = LowPassDownsampling3D(
                    self.strides,
                    sigma=self.lowpass_sigma,
                    subsample=False,
                    dtype=self.dtype_policy,
                    name="shortcut_blur",
                )
                self.shortcut_blur.build(shape)
            self.shortcut = SE3Conv3D(
                self.out_fields,
                self.kernel_size,
                in_fields=in_fields,
                basis=self.basis,
                strides=1 if self.downsampling == "average" else self.strides,
                use_bias=False,
                **self._coefficients,
                dtype=self.dtype_policy,
                name="shortcut",
            )
            self.shortcut.build(shape)
            shape = self.shortcut.compute_output_shape(shape)
            if self.strides > 1 and self.downsampling == "average":
                self.shortcut_pool = LowPassDownsampling3D(
                    self.strides,
                    method="average",
                    dtype=self.dtype_policy,
                    name="shortcut_pool",
                )
                self.shortcut_pool.build(shape)
                shape = self.shortcut_pool.compute_output_shape(shape)
            self.shortcut_norm = self._make_norm("shortcut_norm")
            if self.shortcut_norm is not None:
                self.shortcut_norm.build(shape)

    def call(self, inputs, training=None):
        x = self.conv(self.gated(inputs, training=training))
        if self.norm is not None:
            x = self.norm(x, training=training)
        skip = inputs
        if self.shortcut is not None:
            if self.shortcut_blur is not None:
                skip = self.shortcut_blur(skip)
            skip = self.shortcut(skip)
            if self.shortcut_pool is not None:
                skip = self.shortcut_pool(skip)
            if self.shortcut_norm is not None:
                skip = self.shortcut_norm(skip, training=training)
        return x + skip

    def to_stock_keras(self, input_shape=None, name=None):
        """The stock models of both paths' stages (see
        ``FieldLayer.to_stock_keras``), their layers named
        ``f"{name}_{stage}..."``, and an ``Add``."""
        inputs = stock.stock_input(self, input_shape, self.in_fields.dim)
        name = name or self.name
        main = [self.gated, self.conv, self.norm]
        main = stock.chain(inputs, [s for s in main if s is not None], name)
        skip = inputs
        if self.shortcut is not None:
            stages = [
                self.shortcut_blur,
                self.shortcut,
                self.shortcut_pool,
                self.shortcut_norm,
            ]
            skip = stock.chain(inputs, [s for s in stages if s is not None], name)
        y = stock.apply(keras.layers.Add, [main, skip], f"{name}_add")
        return keras.Model(inputs, y, name=name)

    def compute_output_shape(self, input_shape):
        shape = self.gated.compute_output_shape(input_shape)
        return self.conv.compute_output_shape(shape)

    def get_config(self):
        config = super().get_config()
        gated = self.gated.get_config()
        config.update(
            {
                "hidden_fields": str(self.hidden_fields),
                "kernel_size": self.kernel_size,
                "in_fields": None if self.in_fields is None else str(self.in_fields),
                "out_fields": str(self.out_fields),
                **{key: gated[key] for key in _GATED_OPTIONS},
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        # Files saved before the rename store the inner type as "fields": they
        # load as they are, without a deprecation warning the user cannot act on.
        config = dict(config)
        if "fields" in config and "hidden_fields" not in config:
            config["hidden_fields"] = config.pop("fields")
        return super().from_config(config)

    @property
    def fields(self):
        """The inner field type (read-only; the earlier name of ``hidden_fields``)."""
        return self.hidden_fields
