"""A slice viewer for voxel grids of fields."""

import math

import numpy as np

from keras_se3.field_type import FieldType
from keras_se3.plot._common import Figure, finish

_AXIS_NAMES = "xyz"
_VECTOR_COLOURS = ("normal", "norm")


def _check_volume(volume, ftype):
    array = np.asarray(volume)
    if array.ndim == 5:
        if array.shape[0] != 1:
            raise ValueError(
                f"`volume` has a batch of {array.shape[0]}; pass one sample "
                "([X, Y, Z, C] or [1, X, Y, Z, C]), e.g. volume[0]."
            )
        array = array[0]
    if array.ndim != 4:
        raise ValueError(
            f"`volume` must be [X, Y, Z, C] or [1, X, Y, Z, C], got shape "
            f"{np.shape(volume)}."
        )
    if array.shape[-1] != ftype.dim:
        raise ValueError(
            f"Field type {ftype} has {ftype.dim} channels but the volume has "
            f"{array.shape[-1]}."
        )
    return array.astype(np.float64)


def _check_axis_index(axis, index, shape):
    if isinstance(axis, str) and axis in _AXIS_NAMES:
        axis = _AXIS_NAMES.index(axis)
    if (
        isinstance(axis, bool)
        or not isinstance(axis, (int, np.integer))
        or not (0 <= axis < 3)
    ):
        raise ValueError(
            f"`axis` must be 0, 1, 2 (or 'x', 'y', 'z'): the axis normal to the "
            f"slice, got {axis!r}."
        )
    size = shape[axis]
    if index is None:
        return int(axis), size // 2
    if (
        isinstance(index, bool)
        or not isinstance(index, (int, np.integer))
        or not -size <= index < size
    ):
        raise ValueError(
            f"`index` must be an int in {-size} .. {size - 1} (axis "
            f"{_AXIS_NAMES[axis]} has {size} voxels), got {index!r}."
        )
    return int(axis), int(index) % size


def plot_field_slice(
    volume,
    fields="1x0",
    axis=2,
    index=None,
    field_indices=None,
    vector_colour="normal",
    arrow_step=None,
    arrow_scale=None,
    cmap=None,
    ncols=4,
    panel_size=3.0,
    path=None,
    dpi=100,
):
    """Plot one planar slice of a voxel grid, one panel per field.

    Scalar fields are drawn as an image of the slice.  Vector (order-1) fields
    are drawn as arrows of their two in-plane components, coloured by the
    component normal to the slice (``vector_colour="normal"``) or by the full
    vector's length (``"norm"``).  Fields of order 2 and higher are drawn as
    an image of their norm, the part of them that does not depend on the
    basis of their components.  Voxel centres sit at ``i - (n - 1) / 2``, as
    everywhere in the package.

    Args:
        volume: array ``[X, Y, Z, C]`` or ``[1, X, Y, Z, C]`` (channels last).
        fields: field type of the channels (string, list of pairs or
            ``FieldType``).
        axis: the axis normal to the slice: 0/1/2 or ``"x"``/``"y"``/``"z"``.
        index: voxel index of the slice along ``axis`` (negative counts from
            the end); None: the middle.
        field_indices: indices of the fields to show; None: all.
        vector_colour: ``"normal"`` or ``"norm"``, see above.
        arrow_step: draw an arrow at every ``arrow_step``-th voxel; None: about
            24 arrows along each side at most.
        arrow_scale: None (Matplotlib scales the arrows to the panel), or the
            length in voxels of an arrow per unit of the vector (1: a vector
            drawn at its own length in voxels, for displacements).
        cmap: colormap name; default "viridis" for scalars and norms, "RdBu_r"
            for a vector's normal component.
        ncols: panels per row.
        panel_size: size of one panel in inches.
        path: if given, the figure is saved there (format from the suffix).
        dpi: resolution of the saved file.

    Returns:
        The ``matplotlib.figure.Figure``.

    Raises:
        ValueError: if the channel count does not match ``fields``, the volume
            is not one 3D grid, or ``axis``/``index``/``field_indices`` are out
            of range.

    Example:

    >>> x = np.random.default_rng(0).normal(size=(9, 9, 9, 4))
    >>> fig = plot_field_slice(x, "1x0 + 1x1", axis="z", path="slice.png")
    """
    ftype = FieldType(fields)
    array = _check_volume(volume, ftype)
    axis, index = _check_axis_index(axis, index, array.shape[:3])
    if vector_colour not in _VECTOR_COLOURS:
        raise ValueError(
            f"Unknown vector_colour {vector_colour!r}; use one of {_VECTOR_COLOURS}."
        )
    if arrow_step is not None and (
        isinstance(arrow_step, bool)
        or not isinstance(arrow_step, (int, np.integer))
        or arrow_step < 1
    ):
        raise ValueError(f"`arrow_step` must be a positive int, got {arrow_step!r}.")
    if arrow_scale is not None and not (
        isinstance(arrow_scale, (int, float, np.number))
        and not isinstance(arrow_scale, bool)
        and arrow_scale > 0
    ):
        raise ValueError(
            f"`arrow_scale` must be a positive number or None, got {arrow_scale!r}."
        )
    if isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(f"`ncols` must be a positive int, got {ncols!r}.")
    orders, slices = ftype.field_orders, ftype.slices()
    if field_indices is None:
        shown = list(range(len(orders)))
    else:
        shown = [int(i) for i in np.atleast_1d(field_indices)]
        if not shown or any(not 0 <= i < len(orders) for i in shown):
            raise ValueError(
                f"`field_indices` must be indices in 0 .. {len(orders) - 1} (fields "
                f"of {ftype}), got {field_indices!r}."
            )

    plane = np.take(array, index, axis=axis)  # [n_u, n_v, C]
    in_plane = [a for a in range(3) if a != axis]  # (u, v): horizontal, vertical
    n_u, n_v = plane.shape[:2]
    u = np.arange(n_u) - (n_u - 1) / 2
    v = np.arange(n_v) - (n_v - 1) / 2
    extent = (u[0] - 0.5, u[-1] + 0.5, v[0] - 0.5, v[-1] + 0.5)
    step = arrow_step or max(1, math.ceil(max(n_u, n_v) / 24))
    coord = index - (array.shape[axis] - 1) / 2

    columns = min(ncols, len(shown))
    rows = math.ceil(len(shown) / columns)
    fig = Figure(
        figsize=(panel_size * columns * 1.2, panel_size * rows + 0.5),
        layout="constrained",
    )
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.ravel()[len(shown) :]:
        ax.set_visible(False)
    for ax, field in zip(axes.ravel(), shown):
        l, values = int(orders[field]), plane[..., slices[field]]
        if l == 1:
            # Quiver of the in-plane components; the normal one becomes colour,
            # so a field pointing out of the plane is still visible.
            su, sv = np.meshgrid(u[::step], v[::step], indexing="ij")
            sub = values[::step, ::step]
            if vector_colour == "normal":
                colour = sub[..., axis]
                bound = max(np.abs(colour).max(), 1e-12)
                colour_args = {"cmap": cmap or "RdBu_r", "clim": (-bound, bound)}
                label = f"{_AXIS_NAMES[axis]} component"
            else:
                colour = np.linalg.norm(sub, axis=-1)
                colour_args = {"cmap": cmap or "viridis"}
                label = "norm"
            # Matplotlib scales arrows by their mean length: fix the scale of an
            # all-zero slice, which it would divide by zero.
            if arrow_scale is not None:
                scale = {"scale": 1.0 / arrow_scale, "scale_units": "xy"}
            else:
                scale = {} if np.any(sub[..., list(in_plane)]) else {"scale": 1.0}
            arrows = ax.quiver(
                su.T,
                sv.T,
                sub[..., in_plane[0]].T,
                sub[..., in_plane[1]].T,
                colour.T,
                angles="xy",
                pivot="middle",
                # Dark outlines keep arrows visible where the colour is pale.
                edgecolor="0.2",
                linewidth=0.4,
                **colour_args,
                **scale,
            )
            ax.set_xlim(extent[:2])
            ax.set_ylim(extent[2:])
            fig.colorbar(arrows, ax=ax, label=label, shrink=0.8)
            kind = "vector"
        else:
            image = values[..., 0] if l == 0 else np.linalg.norm(values, axis=-1)
            # imshow puts the first array axis vertically: transpose so the
            # first in-plane axis runs across, and origin="lower" so it grows up.
            shown_image = ax.imshow(
                image.T,
                origin="lower",
                extent=extent,
                cmap=cmap or "viridis",
                interpolation="nearest",
            )
            fig.colorbar(
                shown_image, ax=ax, label="value" if l == 0 else "norm", shrink=0.8
            )
            kind = "scalar" if l == 0 else f"order {l}, norm"
        ax.set_aspect("equal")
        ax.set_xlabel(_AXIS_NAMES[in_plane[0]])
        ax.set_ylabel(_AXIS_NAMES[in_plane[1]])
        ax.set_title(f"field {field} ({kind})", fontsize=9)
    fig.suptitle(
        f"{ftype}: slice {_AXIS_NAMES[axis]} = {coord:g} (index {index})", fontsize=10
    )
    return finish(fig, path, dpi)
