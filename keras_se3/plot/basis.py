"""Pictures of the steerable kernel basis (the paper's Figure 2)."""

import numpy as np

from keras_se3.basis import basis_elements, evaluate_basis
from keras_se3.plot._common import Figure, component_labels, finish, mpl

_STYLES = ("map", "sphere")


def _check_resolution(resolution):
    values = (resolution, 2 * resolution) if np.ndim(resolution) == 0 else resolution
    values = tuple(values)
    if len(values) != 2 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 2
        for v in values
    ):
        raise ValueError(
            "`resolution` must be an int >= 2 (polar samples; twice as many "
            f"azimuthal ones) or a pair (n_polar, n_azimuth), got {resolution!r}."
        )
    return int(values[0]), int(values[1])


def basis_on_sphere(
    order_in, order_out, kernel_size=5, basis="paper", spacing=1.0, resolution=32
):
    """The basis kernels of one pair of orders, evaluated on their shells.

    Every basis kernel ``kappa^{jl,Jm}`` is a Gaussian shell times an angular
    part; it is evaluated on the sphere of its own shell's radius, where the
    radial factor is largest, so the values show the angular part (scaled as
    in :func:`keras_se3.basis.kernel_basis`).  The shell at radius 0 has no
    angular dependence (only ``J = 0`` lives there): its values are constant.

    Args:
        order_in: order ``l`` of the input field.
        order_out: order ``j`` of the output field.
        kernel_size: odd int or 3 odd ints (it sets the shells and bandlimit).
        spacing: voxel size, one number or ``(dx, dy, dz)``.
        basis: preset name (``"paper"``, ``"default"``), ``BasisConfig`` or dict.
        resolution: number of polar samples (twice as many azimuthal ones), or
            a pair ``(n_polar, n_azimuth)``.

    Returns:
        A tuple ``(theta, phi, values, elements)``: the polar angles
        ``[n_polar]`` and azimuths ``[n_azimuth]`` (radians, cell centres), the
        values ``[n_basis, n_polar, n_azimuth, 2 order_out + 1, 2 order_in + 1]``
        (kernel matrix: output component by input component), and the
        ``(J, radius, width)`` of each basis kernel.

    Example:

    >>> theta, phi, values, elements = basis_on_sphere(0, 1, kernel_size=5)
    >>> values.shape, elements[0][:2]
    ((2, 32, 64, 3, 1), (1, 1.0))
    """
    n_theta, n_phi = _check_resolution(resolution)
    elements = basis_elements(order_in, order_out, kernel_size, spacing, basis)
    if not elements:
        raise ValueError(
            f"The basis has no kernels from order {order_in} to order {order_out} "
            f"at kernel size {kernel_size!r}: its shells' bandlimits exclude every "
            "J in |j - l| .. j + l."
        )
    # Cell centres, so that neither pole nor the seam at phi = 0 is sampled twice.
    theta = (np.arange(n_theta) + 0.5) * np.pi / n_theta
    phi = (np.arange(n_phi) + 0.5) * 2 * np.pi / n_phi
    t, p = np.meshgrid(theta, phi, indexing="ij")
    directions = np.stack(
        [np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], axis=-1
    ).reshape(-1, 3)
    values = np.zeros(
        (len(elements), n_theta, n_phi, 2 * order_out + 1, 2 * order_in + 1)
    )
    radii = np.array([radius for _, radius, _ in elements])
    # evaluate_basis returns every kernel of the pair at the given points: one
    # call per distinct radius, keeping the kernels that live on that shell.
    for radius in np.unique(radii):
        picked = np.flatnonzero(radii == radius)
        sampled = evaluate_basis(
            order_in, order_out, radius * directions, kernel_size, spacing, basis
        )[picked]  # [n, N, in, out]
        values[picked] = np.swapaxes(sampled, -1, -2).reshape(
            (len(picked), n_theta, n_phi, 2 * order_out + 1, 2 * order_in + 1)
        )
    return theta, phi, values, elements


def _check_selection(selection, size, name):
    if selection is None:
        return list(range(size))
    picked = [int(i) for i in selection]
    if not picked or any(i < 0 or i >= size for i in picked):
        raise ValueError(
            f"`{name}` must be indices in 0 .. {size - 1}, got {selection!r}."
        )
    return picked


def _check_components(components, dim_out, dim_in):
    if components is None:
        return [(o, i) for o in range(dim_out) for i in range(dim_in)]
    pairs = [tuple(int(v) for v in pair) for pair in components]
    if not pairs or any(
        len(pair) != 2 or not (0 <= pair[0] < dim_out and 0 <= pair[1] < dim_in)
        for pair in pairs
    ):
        raise ValueError(
            f"`components` must be (output, input) index pairs with output in "
            f"0 .. {dim_out - 1} and input in 0 .. {dim_in - 1}, got {components!r}."
        )
    return pairs


def _entry_title(order_out, order_in, o, i):
    out_label, in_label = component_labels(order_out)[o], component_labels(order_in)[i]
    parts = [
        f"out {out_label}" if out_label else "",
        f"in {in_label}" if in_label else "",
    ]
    return ", ".join(part for part in parts if part) or "kernel"


def plot_basis_kernels(
    order_in,
    order_out,
    kernel_size=5,
    basis="paper",
    spacing=1.0,
    style="map",
    resolution=32,
    elements=None,
    components=None,
    cmap="RdBu_r",
    panel_size=1.4,
    path=None,
    dpi=100,
):
    """Plot the angular parts of the basis kernels for one pair of orders.

    One row per basis kernel ``kappa^{jl,Jm}`` of the pair (input order ``l``,
    output order ``j``), labelled with its angular order ``J`` and shell radius;
    one column per entry ``(output component, input component)`` of the
    ``(2j + 1) x (2l + 1)`` kernel matrix.  Each panel shows that entry on the
    sphere of the kernel's shell, either as a map over (azimuth, polar angle)
    (``style="map"``) or painted on a 3D sphere (``style="sphere"``, as in the
    paper's Figure 2).  Each row is divided by its largest absolute value, so
    all panels share one colour scale from -1 to 1.

    Args:
        order_in: order ``l`` of the input field.
        order_out: order ``j`` of the output field.
        kernel_size: odd int or 3 odd ints (it sets the shells and bandlimit).
        basis: preset name (``"paper"``, ``"default"``), ``BasisConfig`` or dict.
        spacing: voxel size, one number or ``(dx, dy, dz)``.
        style: ``"map"`` (equirectangular image) or ``"sphere"`` (3D view;
            slower: each panel is a 3D axes, ~0.15 s each to draw).
        resolution: polar samples (twice as many azimuthal ones), or a pair.
        elements: indices of the basis kernels to show (rows); None: all.
        components: ``(output, input)`` index pairs of the kernel entries to
            show (columns); None: all.  Large pairs (e.g. 2 -> 2, 25 entries)
            read better with a few entries.
        cmap: a diverging matplotlib colormap name.
        panel_size: height of one row in inches.
        path: if given, the figure is saved there (format from the suffix).
        dpi: resolution of the saved file.

    Returns:
        The ``matplotlib.figure.Figure`` (not registered with pyplot: display
        it in a notebook by leaving it as a cell's value, or save it).

    Raises:
        ValueError: for an unknown ``style``, out-of-range ``elements`` or
            ``components``, or a pair of orders the basis has no kernels for.

    Example:

    >>> fig = plot_basis_kernels(1, 1, kernel_size=5, basis="paper")
    >>> fig.savefig("basis_1_1.png")  # or pass path="basis_1_1.png"
    """
    if style not in _STYLES:
        raise ValueError(f"Unknown style {style!r}; use one of {_STYLES}.")
    theta, phi, values, all_elements = basis_on_sphere(
        order_in, order_out, kernel_size, basis, spacing, resolution
    )
    rows = _check_selection(elements, len(all_elements), "elements")
    columns = _check_components(components, 2 * order_out + 1, 2 * order_in + 1)

    # A fixed grid with margins in inches: constrained layout would work too,
    # but costs seconds for the dozens of panels of a large pair.
    aspect = 2.0 if style == "map" else 1.0
    left, right, top, bottom, gap = 1.0, 1.3, 0.9, 0.45, 0.12
    panel_w, panel_h = panel_size * aspect, panel_size
    width = left + right + len(columns) * panel_w + (len(columns) - 1) * gap
    height = top + bottom + len(rows) * panel_h + (len(rows) - 1) * (gap + 0.1)
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(
        len(rows),
        len(columns),
        squeeze=False,
        subplot_kw={"projection": "3d"} if style == "sphere" else None,
        gridspec_kw={
            "left": left / width,
            "right": 1 - right / width,
            "top": 1 - top / height,
            "bottom": bottom / height,
            "wspace": gap / panel_w,
            "hspace": (gap + 0.1) / panel_h,
        },
    )
    if style == "sphere":
        # The surface's vertices are the cells' corners (poles and seam
        # included, so the sphere closes); each patch takes its cell's colour.
        t, p = np.meshgrid(
            np.linspace(0, np.pi, len(theta) + 1),
            np.linspace(0, 2 * np.pi, len(phi) + 1),
            indexing="ij",
        )
        xyz = (np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t))
    colormap = mpl.colormaps[cmap]
    norm = mpl.colors.Normalize(-1.0, 1.0)
    for r, row in enumerate(rows):
        J, radius, _ = all_elements[row]
        block = values[row]
        scale = np.abs(block).max()
        # A row that is zero everywhere (cannot happen for a valid basis kernel,
        # but guards the division) is drawn as zeros.
        block = block / scale if scale > 0 else block
        for c, (o, i) in enumerate(columns):
            ax = axes[r, c]
            if style == "map":
                ax.imshow(
                    block[..., o, i],
                    cmap=colormap,
                    norm=norm,
                    extent=(0, 360, 180, 0),
                    aspect="auto",
                    interpolation="nearest",
                )
                # No tick at 360: its label would run into the next panel's 0.
                ax.set_xticks([0, 90, 180, 270] if r == len(rows) - 1 else [])
                ax.set_yticks([0, 90, 180] if c == 0 else [])
                ax.tick_params(labelsize=7)
            else:
                ax.plot_surface(
                    *xyz,
                    facecolors=colormap(norm(np.pad(block[..., o, i], (0, 1)))),
                    rstride=1,
                    cstride=1,
                    shade=False,
                    linewidth=0,
                    antialiased=False,
                )
                ax.set(xlim=(-1, 1), ylim=(-1, 1), zlim=(-1, 1))
                # 3D axes leave a wide margin around the box: zoom in on it.
                ax.set_box_aspect((1, 1, 1), zoom=1.5)
                ax.set_axis_off()
            if r == 0:
                ax.set_title(_entry_title(order_out, order_in, o, i), fontsize=8)
            if c == 0:
                label = f"J={J}, r={radius:g}\nmax|κ| {scale:.2g}"
                if style == "map":
                    ax.set_ylabel(label, fontsize=8)
                else:
                    ax.text2D(
                        -0.1,
                        0.5,
                        label,
                        transform=ax.transAxes,
                        fontsize=8,
                        ha="right",
                        va="center",
                    )
    bar_height = min(height - top - bottom, 3.0)
    bar = fig.add_axes(
        (
            1 - (right - 0.2) / width,
            (height - top - bar_height) / height,
            0.12 / width,
            bar_height / height,
        )
    )
    fig.colorbar(
        mpl.cm.ScalarMappable(norm=norm, cmap=colormap),
        cax=bar,
        label="value / row max",
    )
    subtitle = (
        "maps: azimuth φ (deg, across) × polar angle θ (deg, down)"
        if style == "map"
        else "each kernel on the sphere of its shell"
    )
    fig.suptitle(
        f"Basis kernels, input order {order_in} → output order {order_out} "
        f"(kernel {kernel_size}, {len(all_elements)} kernels)\n{subtitle}",
        fontsize=9,
    )
    return finish(fig, path, dpi)
