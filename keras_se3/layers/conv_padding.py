"""Zero padding of the steerable convolutions: symmetric on every axis.

Plain functions of the layer's geometry (kernel size, strides, dilation,
padding), shared by ``call``, ``compute_output_shape`` and ``to_stock_keras``.
"""

from keras import ops


def symmetric_padding(padding, kernel_size, dilation_rate):
    """Zero voxels on each side of each spatial axis (``None`` for "valid")."""
    if padding == "valid":
        return None
    if padding == "same":
        return tuple(r * (k - 1) // 2 for r, k in zip(dilation_rate, kernel_size))
    return padding


def output_spatial(layer, input_shape):
    """Output sizes of the three spatial axes (``None`` where unknown), or a
    ValueError naming the fix where a grid has no output position."""
    pad = symmetric_padding(layer.padding, layer.kernel_size, layer.dilation_rate)
    spatial = []
    for axis, (n, k, s, r, p) in enumerate(
        zip(
            input_shape[1:4],
            layer.kernel_size,
            layer.strides,
            layer.dilation_rate,
            pad or (0, 0, 0),
        )
    ):
        if n is None:
            spatial.append(None)
            continue
        size = (n + 2 * p - r * (k - 1) - 1) // s + 1
        if size <= 0:
            raise ValueError(
                f"Layer '{layer.name}': spatial axis {axis + 1} of the input has "
                f"size {n}, too small for kernel size {k} (dilation {r}, extent "
                f"{r * (k - 1) + 1}) with padding={layer.padding!r}: there is no "
                "output position. Use padding='same', a smaller kernel_size, or "
                "a larger input grid."
            )
        spatial.append(size)
    return spatial


def backend_same_is_safe(layer, input_shape):
    """Whether the backend's ``padding="same"`` may stand for the layer's padding.

    Only at stride 1 is the backends' "same" symmetric.  And only where every
    spatial axis is known and at least the kernel's extent: TensorFlow 2.21's
    oneDNN kernels return garbage filter gradients (NaN, 1e30) for a bfloat16
    "same" Conv3D whose kernel is larger than its input (a 5^3 kernel on the 3^3
    grid at the end of the Tetris net).  Explicit zero padding gives the right
    gradients, but would cost 1.1-1.2x per convolution if used on every grid
    (``benchmarks/onednn_bfloat16_conv3d.py``)."""
    if layer.padding != "same" or layer.strides != (1, 1, 1):
        return False
    extents = [r * (k - 1) + 1 for k, r in zip(layer.kernel_size, layer.dilation_rate)]
    return all(n is not None and n >= e for n, e in zip(input_shape[1:4], extents))


def pad_for_conv(layer, inputs, training=None):
    """``(inputs, padding)`` to hand to ``ops.conv``: the input unchanged and
    ``"same"`` where that is safe, else the zero-padded input and ``"valid"``.

    The zeros are a ``Pad`` except in training at stride 1, where they are
    concatenated: TensorFlow 2.21's grappler remapper fails on a Pad feeding a
    stride-1 "valid" Conv3D whose input gradient is taken ("remapper failed: ...
    fanout ... Pad", logged at error level) and then skips its fusions for the
    whole training step.  In inference the Pad is the fast one: oneDNN fuses it
    with the convolution, and the concatenation made the paper-code Tetris net
    (padding 4) 1.6-1.9x slower than its collapse to ``Conv3D`` layers
    (docs/benchmarks.md).  In a training step the concatenation is ~5 % faster.
    """
    if backend_same_is_safe(layer, inputs.shape):
        return inputs, "same"
    pad = symmetric_padding(layer.padding, layer.kernel_size, layer.dilation_rate)
    if pad is None or not any(pad):
        return inputs, "valid"
    if layer.strides != (1, 1, 1) or not training:
        return ops.pad(inputs, [(0, 0)] + [(p, p) for p in pad] + [(0, 0)]), "valid"
    for axis, p in zip((1, 2, 3), pad):
        if p:
            edge = ops.zeros_like(ops.take(inputs, [0] * p, axis=axis))
            inputs = ops.concatenate([edge, inputs, edge], axis=axis)
    return inputs, "valid"
