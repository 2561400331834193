"""The SHREC'17 network of the paper (section 5.2) and a CNN baseline."""

import keras

from keras_se3.field_type import FieldType
from keras_se3.layers.invariant_pooling import InvariantPooling
from keras_se3.layers.se3_gated_conv3d import SE3GatedConv3D

#: Multiplicities of the orders l = 0, 1, 2 of the 8 gated layers, and strides.
SHREC17_LAYERS = (
    ((8, 4, 2), 2),
    ((8, 4, 2), 1),
    ((16, 8, 4), 2),
    ((16, 8, 4), 1),
    ((32, 16, 8), 2),
    ((32, 16, 8), 1),
    ((32, 16, 8), 2),
    ((512, 0, 0), 1),
)


def _fields(multiplicities):
    return FieldType([(m, l) for l, m in enumerate(multiplicities) if m])


def shrec17_net(
    basis="default",
    num_classes=55,
    downsampling="gaussian",
    batch_norm=True,
    synchronized_batch_norm=False,
    input_shape=(None, None, None, 1),
    name="shrec17_se3",
):
    """The paper's steerable SHREC'17 classifier.

    Gated convolutions (kernel 5, field batch norm) with multiplicities of the
    orders 0, 1, 2: ``1 -> (8,4,2) x2 -> (16,8,4) x2 -> (32,16,8) x3 -> 512x0``,
    stride 2 at layers 1, 3, 5 and 7 (low-pass downsampling); spatial mean,
    ``Dense(num_classes)`` (logits).  ``synchronized_batch_norm`` computes the
    batch statistics over the global batch under a ``tf.distribute`` strategy.

    Args:
        basis: kernel basis, as for :class:`SE3Conv3D`: ``"default"`` or
            ``"paper"`` (the paper's; same couplings and parameter counts).
        num_classes: 55 categories of SHREC'17's ShapeNet subset.
        downsampling: as for :class:`SE3GatedConv3D` (``"gaussian"``: low-pass).
        batch_norm: field batch norm before every gate.
        synchronized_batch_norm: see above.
        input_shape: ``(x, y, z, 1)``; spatial sizes may be None.
        name: model name.
    """
    inputs = keras.Input(input_shape, name="voxels")
    x, fields = inputs, FieldType([(input_shape[-1], 0)])
    for index, (multiplicities, stride) in enumerate(SHREC17_LAYERS):
        out_fields = _fields(multiplicities)
        x = SE3GatedConv3D(
            out_fields,
            5,
            in_fields=fields,
            basis=basis,
            strides=stride,
            downsampling=downsampling,
            batch_norm=batch_norm,
            synchronized_batch_norm=synchronized_batch_norm,
            name=f"gated_{index + 1}",
        )(x)
        fields = out_fields
    x = InvariantPooling(fields, name="pool")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def shrec17_cnn(num_classes=55, input_shape=(None, None, None, 1), name="shrec17_cnn"):
    """Plain-CNN baseline with the steerable net's channel counts per layer."""
    inputs = keras.Input(input_shape, name="voxels")
    x = inputs
    for index, (multiplicities, stride) in enumerate(SHREC17_LAYERS):
        x = keras.layers.Conv3D(
            _fields(multiplicities).dim,
            5,
            strides=stride,
            padding="same",
            use_bias=False,
            name=f"conv_{index + 1}",
        )(x)
        x = keras.layers.BatchNormalization(name=f"bn_{index + 1}")(x)
        x = keras.layers.Activation("relu", name=f"relu_{index + 1}")(x)
    x = keras.layers.GlobalAveragePooling3D(name="pool")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)
