"""The CATH ResNet of the paper (section 5.5) and its ResNet34 CNN baseline."""

import keras

from keras_se3.field_type import FieldType
from keras_se3.layers.invariant_pooling import InvariantPooling
from keras_se3.layers.se3_gated_conv3d import SE3GatedConv3D
from keras_se3.layers.se3_residual_block import SE3ResidualBlock

#: (fields of each order l = 0..3, number of blocks) of the four stages.
CATH_STAGES = ((2, 3), (4, 4), (8, 6), (16, 3))


def _orders(multiplicity):
    return FieldType([(multiplicity, l) for l in range(4)])


def cath_resnet(
    basis="default",
    num_classes=10,
    downsampling="average",
    batch_norm=True,
    synchronized_batch_norm=False,
    input_shape=(None, None, None, 1),
    name="cath_se3_resnet",
):
    """The paper's steerable ResNet for CATH (se3cnn's ``SE3ResNet34Small``).

    Stem: gated conv ``1x0 -> 2 fields of each l = 0..3``, kernel 7.  Stages of
    3, 4, 6 and 3 :class:`SE3ResidualBlock` s (kernel 3) with 2, 4, 8 and 16
    fields of each order; the first block of each of the last three stages
    downsamples by 2; the very last convolution outputs ``256x0``.  Spatial
    mean, ``Dense(num_classes)`` (logits).  It has exactly the paper's 143,560
    trainable parameters (either basis).

    Args:
        basis: kernel basis, as for :class:`SE3Conv3D`: ``"default"`` or
            ``"paper"`` (the paper's; same couplings and parameter counts).
        num_classes: 10 architectures for ``cath_10arch``.
        downsampling: ``"average"`` (the paper's CATH net) or ``"gaussian"``.
        batch_norm: parameter-free field batch norm after every convolution.
        synchronized_batch_norm: batch statistics over the global batch under a
            ``tf.distribute`` strategy (all-reduced across replicas).
        input_shape: ``(x, y, z, channels)``; spatial sizes may be None.
        name: model name.
    """
    inputs = keras.Input(input_shape, name="voxels")
    fields = FieldType([(input_shape[-1], 0)])
    stem = _orders(2)
    x = SE3GatedConv3D(
        stem,
        7,
        in_fields=fields,
        basis=basis,
        batch_norm=batch_norm,
        synchronized_batch_norm=synchronized_batch_norm,
        name="stem",
    )(inputs)
    fields = stem
    for stage, (multiplicity, blocks) in enumerate(CATH_STAGES):
        inner = _orders(multiplicity)
        for block in range(blocks):
            last = stage == len(CATH_STAGES) - 1 and block == blocks - 1
            out_fields = FieldType("256x0") if last else inner
            x = SE3ResidualBlock(
                inner,
                3,
                in_fields=fields,
                out_fields=out_fields,
                basis=basis,
                strides=2 if block == 0 and stage > 0 else 1,
                downsampling=downsampling,
                batch_norm=batch_norm,
                synchronized_batch_norm=synchronized_batch_norm,
                name=f"stage{stage + 1}_block{block + 1}",
            )(x)
            fields = out_fields
    x = InvariantPooling(fields, name="pool")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def cath_cnn(
    num_classes=10, input_shape=(None, None, None, 1), name="cath_cnn_resnet34"
):
    """The paper's CNN baseline: a pre-activation ResNet34 with half the channels.

    Stem ``Conv3D(32, 7)``; stages of 3, 4, 6, 3 blocks with 32, 64, 128, 256
    channels, two 3^3 convolutions per block, no convolution bias, a
    ``BatchNormalization`` (scale and offset) + ReLU before every convolution
    (the stem's too), a 1^3 shortcut convolution with its own batch norm where
    the shape changes, stride 2 in the first block of the last three stages;
    global mean, ``Dense(num_classes)``: 15,878,764 trainable parameters, the
    paper's count.
    """

    def pre_activated_conv(x, channels, kernel, stride, label):
        x = keras.layers.BatchNormalization(name=f"{label}_bn")(x)
        x = keras.layers.Activation("relu", name=f"{label}_relu")(x)
        return keras.layers.Conv3D(
            channels,
            kernel,
            strides=stride,
            padding="same",
            use_bias=False,
            name=f"{label}_conv",
        )(x)

    inputs = keras.Input(input_shape, name="voxels")
    x = pre_activated_conv(inputs, 32, 7, 1, "stem")
    channels_in = 32
    for stage, (channels, blocks) in enumerate(zip((32, 64, 128, 256), (3, 4, 6, 3))):
        for block in range(blocks):
            stride = 2 if block == 0 and stage > 0 else 1
            label = f"stage{stage + 1}_block{block + 1}"
            main = pre_activated_conv(x, channels, 3, stride, f"{label}_a")
            main = pre_activated_conv(main, channels, 3, 1, f"{label}_b")
            skip = x
            if channels != channels_in or stride > 1:
                skip = pre_activated_conv(x, channels, 1, stride, f"{label}_shortcut")
            x = keras.layers.Add(name=f"{label}_add")([main, skip])
            channels_in = channels
    x = keras.layers.GlobalAveragePooling3D(name="pool")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)
