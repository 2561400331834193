"""An equivariant U-Net for per-voxel outputs, and its plain-CNN counterpart."""

import keras

from keras_se3.field_type import FieldType
from keras_se3.layers import (
    FieldConcatenate,
    SE3Conv3D,
    SE3Conv3DTranspose,
    SE3GatedConv3D,
)

#: Hidden field types per level when none are given: twice the fields at each
#: coarser level (SO(3) types; O(3) inputs get the same orders with parities).
_DEFAULT_MULTIPLICITIES = (8, 4, 2)  # of orders 0, 1, 2 at the finest level


def _default_hidden(levels, parity):
    suffix = ("e", "o", "e") if parity else ("", "", "")
    return [
        FieldType(
            " + ".join(
                f"{m * 2**level}x{l}{p}"
                for l, (m, p) in enumerate(zip(_DEFAULT_MULTIPLICITIES, suffix))
            )
        )
        for level in range(levels + 1)
    ]


def unet_grid_sizes(levels, up_to=64):
    """The grid sizes (per axis) a U-Net of ``levels`` downsamplings takes, up to
    ``up_to``: ``n`` with ``(n - 1) % 2**levels == 0`` and ``n > 2**levels``."""
    step = 2**levels
    return list(range(step + 1, up_to + 1, step))


def check_unet_grid(shape, levels):
    """Raise a ``ValueError`` naming the sizes that work unless every known
    spatial size of ``shape`` fits a U-Net of ``levels`` downsamplings."""
    step = 2**levels
    for size in shape:
        if size is not None and (size <= step or (size - 1) % step):
            sizes = ", ".join(map(str, unet_grid_sizes(levels, 4 * step + 1)))
            raise ValueError(
                f"A U-Net of {levels} level(s) takes grid sizes n with (n - 1) "
                f"divisible by {step} (each level halves a centred grid: n -> "
                f"(n - 1) / 2 + 1, and the transposed convolution restores it "
                f"exactly), got {tuple(shape)}. Sizes that work: {sizes}, ... Pad or "
                "crop the volume, or use fewer levels."
            )


def se3_unet(
    in_fields="1x0",
    out_fields="1x0",
    levels=2,
    hidden_fields=None,
    kernel_size=3,
    basis="default",
    batch_norm=True,
    dropout=0.0,
    input_shape=None,
    name="se3_unet",
):
    """An SE(3)- (or E(3)-) equivariant U-Net: a field type per voxel in, one out.

    Encoder: at each level a gated block at stride 1 (its output is the level's
    skip connection), then a gated block with anti-aliased downsampling by 2
    (convolution, gate, Gaussian low-pass, subsampling). Bottom: a gated block.
    Decoder: at each level a :class:`SE3Conv3DTranspose` upsampling by 2 onto the
    skip's (centred) grid, :class:`FieldConcatenate` of the skip and the
    upsampled map, and a gated block. Last: a linear :class:`SE3Conv3D` to
    ``out_fields`` (for example scalar segmentation logits and/or vectors).

    Every layer is equivariant and the grids stay centred, so the net is exactly
    equivariant under the 24 cube rotations (48 rotation-reflections for O(3)
    types) on the grid sizes it takes (:func:`unet_grid_sizes`).

    Args:
        in_fields: field type per input voxel (``"1x0"``: one scalar channel).
        out_fields: field type per output voxel, e.g. ``"9x0"`` (class logits)
            or ``"9x0 + 1x1"`` (logits and a vector); O(3) types (``"1x1o"``)
            when ``in_fields`` has parities.
        levels: number of downsamplings (each halves the grid).
        hidden_fields: ``levels + 1`` field types, finest first (default:
            ``8x0 + 4x1 + 2x2`` doubling at each coarser level; with parities
            ``0e, 1o, 2e`` for O(3) inputs).
        kernel_size: odd kernel size of every convolution.
        basis: the kernel basis of every convolution (see :class:`SE3Conv3D`).
        batch_norm: field batch norm in every gated block.
        dropout: field dropout rate after every gated block.
        input_shape: ``(x, y, z, in_fields.dim)``; spatial sizes may be None
            (checked when the net is called).
        name: the model's name.

    Returns:
        A ``keras.Model`` from ``(batch, x, y, z, in_fields.dim)`` to
        ``(batch, x, y, z, out_fields.dim)``.

    Raises:
        ValueError: for grid sizes the levels do not divide (naming the sizes
            that work), or ``hidden_fields`` of the wrong length.

    Example:

    >>> from keras_se3.models import se3_unet
    >>> net = se3_unet("1x0", "3x0 + 1x1", levels=1, hidden_fields=["2x0 + 1x1"] * 2)
    >>> tuple(net(np.zeros((1, 9, 9, 9, 1))).shape)
    (1, 9, 9, 9, 6)
    """
    in_fields, out_fields = FieldType(in_fields), FieldType(out_fields)
    if hidden_fields is None:
        hidden = _default_hidden(levels, in_fields.has_parity)
    else:
        hidden = [FieldType(f) for f in hidden_fields]
        if len(hidden) != levels + 1:
            raise ValueError(
                f"se3_unet needs levels + 1 = {levels + 1} hidden field types "
                f"(finest first), got {len(hidden)}."
            )
    shape = tuple(input_shape or (None, None, None, in_fields.dim))
    check_unet_grid(shape[:-1], levels)
    block = dict(basis=basis, batch_norm=batch_norm, dropout=dropout)

    inputs = keras.Input(shape, name="voxels")
    x, fields = inputs, in_fields
    skips = []
    for level in range(levels):
        x = SE3GatedConv3D(
            hidden[level], kernel_size, in_fields=fields, name=f"encode{level}", **block
        )(x)
        skips.append((x, hidden[level]))
        x = SE3GatedConv3D(
            hidden[level + 1],
            kernel_size,
            in_fields=hidden[level],
            strides=2,
            name=f"down{level}",
            **block,
        )(x)
        fields = hidden[level + 1]
    x = SE3GatedConv3D(fields, kernel_size, in_fields=fields, name="bottom", **block)(x)
    for level in reversed(range(levels)):
        skip, skip_fields = skips[level]
        up = SE3Conv3DTranspose(
            hidden[level],
            kernel_size,
            in_fields=fields,
            strides=2,
            basis=basis,
            name=f"up{level}",
        )(x)
        join = FieldConcatenate([skip_fields, hidden[level]], name=f"skip{level}")
        x = join([skip, up])
        x = SE3GatedConv3D(
            hidden[level],
            kernel_size,
            in_fields=join.output_fields,
            name=f"decode{level}",
            **block,
        )(x)
        fields = hidden[level]
    outputs = SE3Conv3D(
        out_fields, kernel_size, in_fields=fields, basis=basis, name="output"
    )(x)
    return keras.Model(inputs, outputs, name=name)


def unet_cnn(
    in_channels=1,
    out_channels=1,
    levels=2,
    filters=None,
    kernel_size=3,
    batch_norm=True,
    dropout=0.0,
    input_shape=None,
    name="unet_cnn",
):
    """The plain-CNN counterpart of :func:`se3_unet`: the same levels, grids and
    skip connections with ``Conv3D`` / ``Conv3DTranspose``, ReLU and batch norm.

    Args:
        in_channels, out_channels: channels per voxel in and out.
        levels: number of downsamplings (stride-2 convolutions).
        filters: ``levels + 1`` channel counts, finest first (default: the
            channel counts of :func:`se3_unet`'s default field types, 22 doubling
            at each level).
        kernel_size, batch_norm, dropout, input_shape, name: as in
            :func:`se3_unet`.

    Returns:
        A ``keras.Model`` from ``(batch, x, y, z, in_channels)`` to
        ``(batch, x, y, z, out_channels)``, on the grid sizes of
        :func:`unet_grid_sizes`.
    """
    filters = list(filters or [d.dim for d in _default_hidden(levels, False)])
    if len(filters) != levels + 1:
        raise ValueError(
            f"unet_cnn needs levels + 1 = {levels + 1} filter counts, got "
            f"{len(filters)}."
        )
    shape = tuple(input_shape or (None, None, None, in_channels))
    check_unet_grid(shape[:-1], levels)

    def conv_block(x, channels, label, strides=1):
        x = keras.layers.Conv3D(
            channels, kernel_size, strides=strides, padding="same", name=label
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"{label}_bn")(x)
        x = keras.layers.ReLU(name=f"{label}_relu")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{label}_dropout")(x)
        return x

    inputs = keras.Input(shape, name="voxels")
    x = inputs
    skips = []
    for level in range(levels):
        x = conv_block(x, filters[level], f"encode{level}")
        skips.append(x)
        x = conv_block(x, filters[level + 1], f"down{level}", strides=2)
    x = conv_block(x, filters[levels], "bottom")
    for level in reversed(range(levels)):
        # "valid" then a crop of the kernel's half-width: n -> 2 (n - 1) + 1,
        # the skip's grid (as SE3Conv3DTranspose does).
        x = keras.layers.Conv3DTranspose(
            filters[level], kernel_size, strides=2, name=f"up{level}"
        )(x)
        crop = kernel_size // 2
        x = keras.layers.Cropping3D(crop, name=f"up{level}_crop")(x) if crop else x
        x = keras.layers.Concatenate(name=f"skip{level}")([skips[level], x])
        x = conv_block(x, filters[level], f"decode{level}")
    outputs = keras.layers.Conv3D(
        out_channels, kernel_size, padding="same", name="output"
    )(x)
    return keras.Model(inputs, outputs, name=name)
