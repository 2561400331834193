"""`FieldBatchNormalization`: batch normalization that respects field types."""

import keras
import numpy as np
from keras import ops

import keras_se3.layers.stock as stock
from keras_se3.layers.field_layer import FieldLayer


@keras.saving.register_keras_serializable(package="keras_se3")
class FieldBatchNormalization(FieldLayer):
    """Batch normalization of a feature map made of irreducible fields.

    - Scalar fields: ordinary batch normalization, statistics over the batch and
      all spatial positions: ``gamma * (x - mean) / sqrt(var + epsilon) + beta``.
    - Fields of order ``l > 0``: ``gamma * v / sqrt(s + epsilon)``, where ``s`` is
      the mean over batch and space of ``|v|^2 / (2l + 1)`` (the mean square per
      component).  No mean subtraction and no bias (either would break
      equivariance).

    Statistics are rotation invariant, so the layer is equivariant in training and
    in inference mode.  With O(3) types, pseudo-scalars (``0o``) are normalised
    like the non-scalar fields (by their mean square, without mean or ``beta``:
    both would break the sign flip under reflections).

    In training (``training=True`` and ``trainable``) it uses the batch
    statistics and updates the moving ones,
    ``moving = momentum * moving + (1 - momentum) * batch``; otherwise it uses the
    moving statistics, as ``keras.layers.BatchNormalization`` does.

    Weights (all float32, one entry per field; ``None`` when empty):

    - ``gamma`` ``[num_fields]`` (if ``scale``): scale of every field;
    - ``beta`` ``[num_scalar_fields]`` (if ``center``): offset of the scalars;
    - ``moving_mean`` ``[num_scalar_fields]``: moving mean of the scalars;
    - ``moving_variance`` ``[num_fields]``: moving variance of each scalar field,
      moving mean square per component ``s`` of each other field.

    :meth:`inference_affine` folds them to one per-channel ``x * a + b``.

    Args:
        fields: field type of input and output (``FieldType``, string like
            ``"8x0 + 4x1"``, or list of ``(multiplicity, l)`` pairs).
        momentum: momentum of the moving statistics.
        epsilon: added to the variances.
        center: learn ``beta`` (scalar fields only).
        scale: learn ``gamma`` (one per field).  With
            ``center=False, scale=False`` the layer has no trainable weights.
        synchronized: compute batch statistics across replicas under a
            ``tf.distribute`` strategy (TensorFlow backend only).  Either way
            the moving statistics are averaged over the replicas at each update
            (``aggregation="mean"``), so all replicas keep the same copy;
            without ``synchronized`` that is the mean of per-replica statistics.
        beta_initializer, gamma_initializer, moving_mean_initializer,
        moving_variance_initializer: as in ``keras.layers.BatchNormalization``.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Input shape:
        ``(batch, x, y, z, fields.dim)`` (any rank >= 2 works: statistics are over
        all axes but the last).

    Output shape:
        same as the input.

    Example:

    >>> bn = FieldBatchNormalization("4x0 + 2x1")
    >>> tuple(bn(np.ones((2, 8, 8, 8, 10)), training=True).shape)
    (2, 8, 8, 8, 10)
    """

    TAKES_O3 = True

    def __init__(
        self,
        fields,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        synchronized=False,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        **kwargs,
    ):
        super().__init__(fields, **kwargs)
        if synchronized and keras.backend.backend() != "tensorflow":
            raise ValueError(
                "FieldBatchNormalization(synchronized=True) is only supported with "
                "the TensorFlow backend (tf.distribute), not with "
                f"{keras.backend.backend()!r}: set KERAS_BACKEND=tensorflow, or "
                "use synchronized=False (statistics per device)."
            )
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.synchronized = bool(synchronized)
        self.beta_initializer = keras.initializers.get(beta_initializer)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.moving_mean_initializer = keras.initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = keras.initializers.get(
            moving_variance_initializer
        )

        ft = self.fields
        orders = ft.channel_orders
        # "Scalars" are the invariant ones: an O(3) pseudo-scalar (0o) flips sign
        # under reflections, so it is normalised like the other fields (mean
        # square, no centring, no beta).
        self._scalar_channels = ft.scalar_channels
        self._n_scalars = len(self._scalar_channels)
        self._scalar_fields = ft.scalar_fields
        # Channel -> field statistic: mean over the field's channels.
        matrix = np.zeros((ft.dim, ft.num_fields))
        matrix[np.arange(ft.dim), ft.channel_fields] = 1.0 / (2 * orders + 1)
        self._average_matrix = matrix
        nonscalar = np.ones(ft.dim, "float32")
        nonscalar[self._scalar_channels] = 0.0
        self._nonscalar_channel = nonscalar
        # Channel -> index into the scalars' mean / beta, with the appended 0 for
        # non-scalar channels.
        index = np.full(ft.dim, self._n_scalars)
        index[self._scalar_channels] = np.arange(self._n_scalars)
        self._scalar_index = index
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    def build(self, input_shape):
        self.check_input_channels(input_shape)
        n_fields, n_scalars = self.fields.num_fields, self._n_scalars
        # The moving statistics are aggregated with "mean": with Keras' default
        # ("none") each replica of a tf.distribute strategy would keep its own
        # copy, and the replicas would disagree in inference and in checkpoints.
        if self.scale:
            self.gamma = self.add_weight(
                name="gamma",
                shape=(n_fields,),
                initializer=self.gamma_initializer,
                trainable=True,
                autocast=False,
            )
        if self.center and n_scalars:
            self.beta = self.add_weight(
                name="beta",
                shape=(n_scalars,),
                initializer=self.beta_initializer,
                trainable=True,
                autocast=False,
            )
        if n_scalars:
            self.moving_mean = self.add_weight(
                name="moving_mean",
                shape=(n_scalars,),
                initializer=self.moving_mean_initializer,
                trainable=False,
                autocast=False,
                aggregation="mean",
            )
        self.moving_variance = self.add_weight(
            name="moving_variance",
            shape=(n_fields,),
            initializer=self.moving_variance_initializer,
            trainable=False,
            autocast=False,
            aggregation="mean",
        )
        self._reduction_axes = list(range(len(input_shape) - 1))

    def _batch_statistics(self, inputs):
        """Scalar means ``[n_scalars]`` and per-field variances ``[num_fields]``."""
        mean, variance = ops.moments(
            inputs, axes=self._reduction_axes, synchronized=self.synchronized
        )
        # Non-scalar channels: mean square = variance + mean^2 (no centring).
        nonscalar = ops.convert_to_tensor(self._nonscalar_channel, dtype=inputs.dtype)
        per_channel = variance + nonscalar * ops.square(mean)
        matrix = ops.convert_to_tensor(self._average_matrix, dtype=inputs.dtype)
        field_variance = ops.matmul(per_channel[None, :], matrix)[0]
        scalar_mean = ops.take(mean, self._scalar_channels) if self._n_scalars else None
        return scalar_mean, field_variance

    def _channel_affine(self, scalar_mean, field_variance, dtype, xp=ops):
        """Per-channel ``(a, b)`` with output ``x * a + b`` (``b`` None without
        scalars; else 0 on the other channels).

        ``xp`` is ``keras.ops`` in the layer, ``numpy`` in :meth:`inference_affine`
        (float64 on every backend, for the export): one formula for both.
        """

        def weight(w):
            return np.asarray(w, dtype) if xp is np else ops.cast(w, dtype)

        inv = 1.0 / xp.sqrt(field_variance + self.epsilon)
        if self.gamma is not None:
            inv = inv * weight(self.gamma)
        a = xp.take(inv, self.fields.channel_fields)
        if not self._n_scalars:
            return a, None
        zero = xp.zeros((1,), dtype=dtype)
        offset = -scalar_mean * xp.take(inv, self._scalar_fields)
        if self.beta is not None:
            offset = offset + weight(self.beta)
        b = xp.take(xp.concatenate([offset, zero]), self._scalar_index)
        return a, b

    def call(self, inputs, training=None):
        dtype = keras.backend.result_type(inputs.dtype, "float32")
        inputs = ops.cast(inputs, dtype)
        if training and self.trainable:
            scalar_mean, field_variance = self._batch_statistics(inputs)
            m = self.momentum
            if self.moving_mean is not None:
                self.moving_mean.assign(
                    self.moving_mean * m
                    + ops.cast(scalar_mean, self.moving_mean.dtype) * (1.0 - m)
                )
            self.moving_variance.assign(
                self.moving_variance * m
                + ops.cast(field_variance, self.moving_variance.dtype) * (1.0 - m)
            )
        else:
            scalar_mean = (
                None if self.moving_mean is None else ops.cast(self.moving_mean, dtype)
            )
            field_variance = ops.cast(self.moving_variance, dtype)
        a, b = self._channel_affine(scalar_mean, field_variance, dtype)
        outputs = inputs * a if b is None else inputs * a + b
        return ops.cast(outputs, self.compute_dtype)

    def inference_affine(self):
        """The inference-mode layer as numpy ``(a, b)``, ``[dim]`` each: ``x * a + b``.

        ``b`` is 0 on non-scalar channels.  Computed in float64 (also on a
        backend without float64 tensors) by the layer's own formula.  Useful to
        fold the layer into a neighbouring convolution or to export it.
        """
        mean = None
        if self._n_scalars:
            mean = np.asarray(self.moving_mean, "float64")
        variance = np.asarray(self.moving_variance, "float64")
        a, b = self._channel_affine(mean, variance, "float64", xp=np)
        return a, np.zeros(self.fields.dim) if b is None else b

    def to_stock_keras(self, input_shape=None, name=None):
        """A frozen ``BatchNormalization`` with the per-channel scale and shift of
        :meth:`inference_affine` (:func:`keras_se3.collapse` folds it into the
        preceding convolution where exact).  See :meth:`FieldLayer.to_stock_keras`.
        """
        x = stock.stock_input(self, input_shape, self.fields.dim)
        a, b = self.inference_affine()
        eps = 1e-3  # BatchNormalization's: gamma / sqrt(1 + eps) == a
        y = stock.apply(
            keras.layers.BatchNormalization,
            x,
            name or self.name,
            epsilon=eps,
            trainable=False,
            weights=[a * np.sqrt(1.0 + eps), b, np.zeros_like(a), np.ones_like(a)],
        )
        return keras.Model(x, y, name=name or self.name)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "center": self.center,
                "scale": self.scale,
                "synchronized": self.synchronized,
                "beta_initializer": keras.initializers.serialize(self.beta_initializer),
                "gamma_initializer": keras.initializers.serialize(
                    self.gamma_initializer
                ),
                "moving_mean_initializer": keras.initializers.serialize(
                    self.moving_mean_initializer
                ),
                "moving_variance_initializer": keras.initializers.serialize(
                    self.moving_variance_initializer
                ),
            }
        )
        return config
