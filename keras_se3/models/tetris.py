"""The Tetris network of the paper (section 5.1) and its CNN baseline."""

import keras

from keras_se3.field_type import FieldType
from keras_se3.layers.invariant_pooling import InvariantPooling
from keras_se3.layers.low_pass import LowPassDownsampling3D, paper_sigma
from keras_se3.layers.se3_gated_conv3d import SE3GatedConv3D
from keras_se3.layers.triple_product_pooling import TripleProductPooling

#: (field type, stride) of the four gated layers; kernel 5 throughout.
TETRIS_LAYERS = (
    ("4x0 + 4x1 + 4x2 + 1x3", 1),
    ("16x0 + 16x1 + 16x2", 2),
    ("32x0 + 16x1 + 16x2", 2),
    ("128x0", 1),
)

#: The options that make :func:`tetris_net` the network of the paper's own code
#: (se3cnn's Tetris script): full padding, its input and stride low-passes (the
#: paper's sigma for a factor 2), no batch norm, its coefficient parametrisation.
#: ``tetris_net(**PAPER_CODE_OPTIONS)`` computes the same logits and gradients
#: from the same weights (benchmarks/reference/).
PAPER_CODE_OPTIONS = dict(
    basis="paper",
    padding=4,
    input_blur=paper_sigma(2),
    lowpass_sigma=None,
    batch_norm=False,
    parametrization="scaled_basis",
)


def _with_reflections(fields, reflections):
    """``fields`` as an O(3) type of natural parities ``(-1)^l`` if ``reflections``."""
    if not reflections:
        return fields
    return FieldType([(mul, l, (-1) ** l) for mul, l in fields.terms])


def tetris_net(
    basis="default",
    downsampling="gaussian",
    num_classes=8,
    dropout=0.2,
    input_shape=(None, None, None, 1),
    name="tetris_se3",
    padding="same",
    input_blur=None,
    lowpass_sigma=None,
    batch_norm=False,
    momentum=0.99,
    parametrization="unit_basis",
    reflections=False,
    triple_products=0,
):
    """The paper's steerable Tetris classifier.

    ``(1x0) -> 4x0+4x1+4x2+1x3 -> 16x0+16x1+16x2 -> 32x0+16x1+16x2 -> 128x0``,
    gated convolutions of kernel 5 with strides 1, 2, 2, 1 (convolution at stride
    1, gate, then a Gaussian low-pass and subsampling), spatial mean of the 128
    scalars, dropout, ``Dense(num_classes)`` (logits).

    Args:
        basis: kernel basis, as for :class:`SE3Conv3D`: ``"default"`` (the
            layers' default) or ``"paper"`` (the paper's); both have the same
            couplings and parameter counts (docs/results.md compares them).
        downsampling: ``"gaussian"`` (paper), ``"average"``, or ``"strided"``
            (bare strided convolutions: the aliasing ablation).
        num_classes: 8 Tetris pieces.
        dropout: rate before the classifier.
        input_shape: ``(x, y, z, 1)``; spatial sizes may be None.
        name: model name.
        padding: of every convolution: ``"same"`` (default), or an int ``p``
            of zeros added on each side (se3cnn's Tetris net used 4, the full
            convolution: no response is cut at the border).
        input_blur: None (paper), or the sigma (voxels) of a Gaussian blur of
            the input grid, as se3cnn's Tetris script did (0.87): it removes
            the voxel-edge frequencies that no rotation of the grid reproduces.
        lowpass_sigma: sigma of the low-pass before each subsampling; None is
            the paper's 0.87 (39 % amplitude left at the coarse Nyquist
            frequency), 1.2 leaves 16 %.  Only with ``downsampling="gaussian"``.
        batch_norm: normalise every convolution's fields before the gate
            (:class:`FieldBatchNormalization`, no parameters).  Not in the
            paper's net; it makes training on the 8 pieces far more reliable.
        momentum: of the batch norm's moving statistics.
        parametrization: of the convolutions' coefficients (see
            :class:`SE3Conv3D`).  se3cnn's net used ``"scaled_basis"``; without
            batch norm, only that one fitted the 8 pieces reliably here.
        reflections: False (the paper's SO(3) net) or True: the same orders as
            O(3) types of parity ``(-1)^l`` (``"4x0e + 4x1o + 4x2e + 1x3o"``,
            ...), the ones convolutions reach from a density.  The net is then
            invariant to reflections too, so it gives a piece and its mirror image
            the same logits (``examples/chirality.py``).
        triple_products: 0 (the paper's net) or the number of
            :class:`TripleProductPooling` features of the second block's vector
            fields, batch-normalised and given to the classifier beside the
            pooled scalars.  They tell the two mirror-image pieces apart from
            the start of training (docs/results.md); the example's recipe uses
            16.  Not with ``reflections`` (they change sign under reflections).

    Returns:
        A ``keras.Model`` mapping ``[batch, x, y, z, 1]`` to logits.
    """
    if triple_products and reflections:
        raise ValueError(
            "triple_products tell a piece from its mirror image, and a net with "
            "reflections=True is built to give both the same logits: use one of "
            "the two."
        )
    inputs = keras.Input(input_shape, name="voxels")
    x, fields = inputs, _with_reflections(FieldType("1x0"), reflections)
    chirality = None
    if input_blur is not None:
        x = LowPassDownsampling3D(1, sigma=input_blur, name="input_blur")(x)
    for index, (out_fields, stride) in enumerate(TETRIS_LAYERS):
        out_fields = _with_reflections(FieldType(out_fields), reflections)
        x = SE3GatedConv3D(
            out_fields,
            5,
            in_fields=fields,
            basis=basis,
            strides=stride,
            downsampling=downsampling,
            lowpass_sigma=lowpass_sigma if stride > 1 else None,
            padding=padding,
            batch_norm=batch_norm,
            momentum=momentum,
            parametrization=parametrization,
            name=f"gated_{index + 1}",
        )(x)
        fields = FieldType(out_fields)
        if triple_products and index == 1:
            chirality = TripleProductPooling(fields, triple_products, name="triple")(x)
            # Cubic in the fields: normalised before the classifier mixes it in.
            chirality = keras.layers.BatchNormalization(
                momentum=momentum, name="triple_norm"
            )(chirality)
    x = InvariantPooling(fields, name="pool")(x)
    if chirality is not None:
        x = keras.layers.Concatenate(name="features")([x, chirality])
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def tetris_cnn(
    num_classes=8,
    dropout=0.2,
    batch_norm=True,
    input_shape=(None, None, None, 1),
    name="tetris_cnn",
    input_blur=None,
):
    """Plain-CNN baseline with the steerable net's channel counts per layer.

    ``Conv3D`` layers of 43, 144, 160 and 128 channels (the dimensions of the
    steerable net's field types), kernel 5, strides 1, 2, 2, 1, each followed by
    ``BatchNormalization`` (as in se3cnn's baseline; without it the CNN does not
    train at the steerable net's learning rate) and ReLU; spatial mean, dropout,
    ``Dense(num_classes)``.  ``input_blur``: as in :func:`tetris_net`, so that
    both nets see the same input.
    """
    inputs = keras.Input(input_shape, name="voxels")
    x = inputs
    if input_blur is not None:
        x = LowPassDownsampling3D(1, sigma=input_blur, name="input_blur")(x)
    for index, (fields, stride) in enumerate(TETRIS_LAYERS):
        x = keras.layers.Conv3D(
            FieldType(fields).dim,
            5,
            strides=stride,
            padding="same",
            name=f"conv_{index + 1}",
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"bn_{index + 1}")(x)
        x = keras.layers.Activation("relu", name=f"relu_{index + 1}")(x)
    x = keras.layers.GlobalAveragePooling3D(name="pool")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)
