"""`SE3GatedConv3D`: steerable conv, downsampling, field norm and gated activation."""

import keras

import keras_se3.layers.stock as stock
from keras_se3.field_type import FieldType
from keras_se3.layers.field_batch_norm import FieldBatchNormalization
from keras_se3.layers.field_dropout import FieldDropout
from keras_se3.layers.field_layer import FieldLayer
from keras_se3.layers.gate import Gate
from keras_se3.layers.low_pass import LowPassDownsampling3D
from keras_se3.layers.se3_conv3d import SE3Conv3D

_DOWNSAMPLING = ("gaussian", "average", "strided")


@keras.saving.register_keras_serializable(package="keras_se3")
class SE3GatedConv3D(FieldLayer):
    """The paper's gated convolution block (section 4.3), as one layer.

    ``SE3Conv3D`` producing ``out_fields`` plus one gate scalar per non-scalar
    field, then (optionally) field batch normalisation, then the :class:`Gate`
    (activation with a bias on the scalars, sigmoid gates multiplying the other
    fields), then (if ``strides > 1``) anti-aliased downsampling, then
    (optionally) field dropout.  Every stage is equivariant, so the block is.

    The downsampling smooths the *activated* feature maps before subsampling
    them (paper section 4.4.2, and se3cnn's block: convolution at stride 1,
    gate, low-pass, stride).  The nonlinearity creates frequencies above the
    coarse grid's Nyquist limit; the low-pass removes them before they alias.
    Subsampling before the gate (a strided convolution of a blurred input: the
    same linear map at 1/8 of the cost) leaves the gate's output aliased, and
    the trained Tetris net then loses most of its rotation invariance:
    ``docs/results.md`` has the measurements.

    The convolution has no bias: the gate carries one bias per scalar field and
    per gate, and batch norm (if any) has no parameters of its own (centring and
    scale would duplicate the gate's bias and the convolution's scale).

    Args:
        out_fields: output field type (the gates are added internally).
        kernel_size: odd int or 3 odd ints.
        in_fields: input field type; ``None``: every input channel is a scalar.
        basis: the kernel basis (see :class:`SE3Conv3D`).
        strides: int downsampling factor.
        downsampling: how ``strides > 1`` downsamples: ``"gaussian"`` (the
            paper's: convolution at stride 1, gate, then
            :class:`LowPassDownsampling3D` — Gaussian low-pass and subsampling),
            ``"average"`` (the same with average pooling), or ``"strided"`` — a
            bare strided convolution before the gate, which aliases (in the
            paper's Tetris experiment the accuracy falls from 99% to 36%); only
            for ablations.
        lowpass_sigma: width (voxels of the stride-1 grid) of the Gaussian
            low-pass of ``downsampling="gaussian"``; ``None`` (default): the
            paper's 0.87 for stride 2.  See :class:`LowPassDownsampling3D`.
            No effect at ``strides=1`` (nothing is downsampled).
        padding: ``"same"``, ``"valid"`` or int (symmetric), of the convolution.
        activation: activation of the scalar fields (any Keras activation).
        gate_activation: activation of the gates (``"sigmoid"``).
        odd_activation: activation of the pseudo-scalars (``0o``) of an O(3)
            ``out_fields``; must be odd (``"tanh"``; see :class:`Gate`).
        batch_norm: add :class:`FieldBatchNormalization` (no parameters) before
            the gate.
        momentum: moving-average momentum of the batch norm.
        synchronized_batch_norm: compute the batch norm's statistics over the
            global batch under a ``tf.distribute`` strategy (see
            :class:`FieldBatchNormalization`'s ``synchronized``).
        dropout: :class:`FieldDropout` rate after the gate (0: none).
        use_bias: biases of the scalar fields and gates (in the gate).
        kernel_initializer, parametrization, kernel_regularizer,
        kernel_constraint: of the convolution's basis coefficients (see
            :class:`SE3Conv3D`).
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Input shape:
        ``(batch, x, y, z, in_fields.dim)``.

    Output shape:
        ``(batch, x', y', z', out_fields.dim)``; with ``padding="same"``,
        ``x' = (x - 1) // strides + 1`` (``"gaussian"``, ``"strided"``) or
        ``x // strides`` (``"average"``).

    Example:

    >>> from keras_se3 import SE3GatedConv3D
    >>> block = SE3GatedConv3D("16x0 + 8x1 + 4x2", kernel_size=5, strides=2)
    >>> tuple(block(np.zeros((2, 17, 17, 17, 1))).shape)
    (2, 9, 9, 9, 60)
    """

    TAKES_O3 = True

    def __init__(
        self,
        out_fields,
        kernel_size,
        in_fields=None,
        basis="default",
        strides=1,
        downsampling="gaussian",
        lowpass_sigma=None,
        padding="same",
        activation="relu",
        gate_activation="sigmoid",
        odd_activation="tanh",
        batch_norm=False,
        momentum=0.99,
        synchronized_batch_norm=False,
        dropout=0.0,
        use_bias=True,
        kernel_initializer=None,
        parametrization="unit_basis",
        kernel_regularizer=None,
        kernel_constraint=None,
        **kwargs,
    ):
        super().__init__(None, **kwargs)
        self.out_fields = FieldType(out_fields)
        if isinstance(strides, bool) or not isinstance(strides, int) or strides < 1:
            raise ValueError(
                f"`strides` of SE3GatedConv3D is one positive int (the same "
                f"factor on every axis), got {strides!r}."
            )
        if downsampling not in _DOWNSAMPLING:
            raise ValueError(
                f"`downsampling` must be one of {_DOWNSAMPLING}, got {downsampling!r}."
            )
        if lowpass_sigma is not None and downsampling != "gaussian":
            raise ValueError(
                "`lowpass_sigma` is the width of the Gaussian low-pass of "
                f"downsampling='gaussian'; got downsampling={downsampling!r}."
            )
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}.")
        self.strides = strides
        self.downsampling = downsampling
        self.lowpass_sigma = lowpass_sigma
        self.batch_norm = bool(batch_norm)
        self.momentum = momentum
        self.synchronized_batch_norm = bool(synchronized_batch_norm)
        self.dropout = float(dropout)
        policy = self.dtype_policy
        conv_fields = Gate.input_fields(self.out_fields)
        self.conv = SE3Conv3D(
            conv_fields,
            kernel_size,
            in_fields=in_fields,
            basis=basis,
            strides=strides if downsampling == "strided" else 1,
            padding=padding,
            use_bias=False,
            kernel_initializer=kernel_initializer,
            parametrization=parametrization,
            kernel_regularizer=kernel_regularizer,
            kernel_constraint=kernel_constraint,
            dtype=policy,
            name="conv",
        )
        self.norm = (
            FieldBatchNormalization(
                conv_fields,
                momentum=momentum,
                center=False,
                scale=False,
                synchronized=self.synchronized_batch_norm,
                dtype=policy,
                name="norm",
            )
            if self.batch_norm
            else None
        )
        self.gate = Gate(
            self.out_fields,
            activation=activation,
            gate_activation=gate_activation,
            odd_activation=odd_activation,
            use_bias=use_bias,
            dtype=policy,
            name="gate",
        )
        # After the gate: smooth the activated fields, then subsample (see above).
        self.down = (
            LowPassDownsampling3D(
                strides,
                method=downsampling,
                sigma=lowpass_sigma,
                dtype=policy,
                name="downsampling",
            )
            if strides > 1 and downsampling != "strided"
            else None
        )
        self.drop = (
            FieldDropout(self.out_fields, self.dropout, dtype=policy, name="dropout")
            if self.dropout
            else None
        )

    @property
    def in_fields(self):
        return self.conv.in_fields

    def _stages(self):
        stages = (self.conv, self.norm, self.gate, self.down, self.drop)
        return [stage for stage in stages if stage is not None]

    def build(self, input_shape):
        shape = input_shape
        for stage in self._stages():
            stage.build(shape)
            shape = stage.compute_output_shape(shape)

    def call(self, inputs, training=None):
        x = self.conv(inputs)
        if self.norm is not None:
            x = self.norm(x, training=training)
        x = self.gate(x)
        if self.down is not None:
            x = self.down(x)
        if self.drop is not None:
            x = self.drop(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        shape = input_shape
        for stage in self._stages():
            shape = stage.compute_output_shape(shape)
        return shape

    def to_stock_keras(self, input_shape=None, name=None):
        """Its stages' stock models in a row (the convolution's, the batch
        norm's, ...; see ``FieldLayer.to_stock_keras``), their layers
        named ``f"{name}_{stage}..."``."""
        inputs = stock.stock_input(self, input_shape, self.in_fields.dim)
        name = name or self.name
        outputs = stock.chain(inputs, self._stages(), name)
        return keras.Model(inputs, outputs, name=name)

    def get_config(self):
        config = super().get_config()
        conv = self.conv.get_config()
        gate = self.gate.get_config()
        config.update(
            {
                "out_fields": str(self.out_fields),
                "kernel_size": conv["kernel_size"],
                "in_fields": conv["in_fields"],
                "basis": conv["basis"],
                "strides": self.strides,
                "downsampling": self.downsampling,
                "lowpass_sigma": self.lowpass_sigma,
                "padding": conv["padding"],
                "activation": gate["activation"],
                "gate_activation": gate["gate_activation"],
                "odd_activation": gate["odd_activation"],
                "batch_norm": self.batch_norm,
                "momentum": self.momentum,
                "synchronized_batch_norm": self.synchronized_batch_norm,
                "dropout": self.dropout,
                "use_bias": gate["use_bias"],
                "kernel_initializer": conv["kernel_initializer"],
                "parametrization": conv["parametrization"],
                "kernel_regularizer": conv["kernel_regularizer"],
                "kernel_constraint": conv["kernel_constraint"],
            }
        )
        return config
