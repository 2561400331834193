"""The steerable kernel basis (paper section 4.2, numpy, computed at build time).

For an input field of order ``l`` and an output field of order ``j`` every
equivariant kernel ``K(Rx) = D^j(R) K(x) D^l(R)^T`` is a combination of

    kappa^{jl,Jm}(x)[o, i] = sum_c Q^J[o, i, c] Y^J_c(x/|x|) phi_m(|x|),
    |j - l| <= J <= j + l,  J <= J_max(shell m).

For O(3) fields (parities ``p_in``, ``p_out``) the kernel must also satisfy
``K(-x) = p_in p_out K(x)`` (the inversion), and ``Y^J(-x) = (-1)^J Y^J(x)``:
only the ``J`` with ``(-1)^J = p_in p_out`` remain.

Basis arrays use Keras's Conv3D layout: ``[n_basis, kx, ky, kz, 2l+1, 2j+1]``.
"""

import functools

import numpy as np

from keras_se3.basis.config import get_basis_config
from keras_se3.basis.lattice import angular_radial, sample_on_grid
from keras_se3.so3 import change_of_basis
from keras_se3.so3 import check_order as _check_order


def normalize_kernel_size(kernel_size):
    """``kernel_size`` as a tuple of three odd positive ints."""
    sizes = (kernel_size,) * 3 if np.ndim(kernel_size) == 0 else tuple(kernel_size)
    if len(sizes) != 3 or not all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0
        for s in sizes
    ):
        raise ValueError(
            f"`kernel_size` must be a positive int or a tuple of 3 positive ints, "
            f"got {kernel_size!r}."
        )
    if any(s % 2 == 0 for s in sizes):
        raise ValueError(
            f"`kernel_size` must be odd, got {kernel_size!r}: an even kernel has no "
            "centre voxel, so it cannot be rotated onto itself about a grid point."
        )
    return tuple(int(s) for s in sizes)


def normalize_spacing(spacing):
    """``spacing`` as a tuple of three positive floats (voxel size along x, y, z)."""
    steps = (spacing,) * 3 if np.ndim(spacing) == 0 else tuple(spacing)
    if len(steps) != 3 or not all(np.isfinite(s) and s > 0 for s in steps):
        raise ValueError(
            f"`spacing` must be a positive number or 3 positive numbers (dx, dy, dz), "
            f"got {spacing!r}."
        )
    return tuple(float(s) for s in steps)


def grid_points(kernel_size, spacing=1.0):
    """Kernel voxel centres ``[kx*ky*kz, 3]``, in units of the smallest spacing."""
    sizes, steps = normalize_kernel_size(kernel_size), normalize_spacing(spacing)
    unit = min(steps)
    axes = [(np.arange(s) - (s - 1) / 2) * d / unit for s, d in zip(sizes, steps)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)


def _max_radius(kernel_size, spacing):
    sizes, steps = normalize_kernel_size(kernel_size), normalize_spacing(spacing)
    unit = min(steps)
    return min((s // 2) * d / unit for s, d in zip(sizes, steps))


def _check_parities(parities):
    """``None``, or ``(p_in, p_out)`` with each +1 or -1."""
    if parities is None:
        return None
    if (
        not isinstance(parities, (tuple, list))
        or len(parities) != 2
        or any(isinstance(p, bool) or p not in (1, -1) for p in parities)
    ):
        raise ValueError(
            f"`parities` must be None (SO(3)) or (p_in, p_out) with each +1 or -1, "
            f"got {parities!r}."
        )
    return int(parities[0]), int(parities[1])


def basis_elements(
    l_in, l_out, kernel_size, spacing=1.0, basis="default", parities=None
):
    """The ``(J, radius, width)`` triples that index the basis of one pair, in order.

    ``parities``: None for SO(3) fields, or ``(p_in, p_out)`` for O(3) fields,
    which keeps only the ``J`` with ``(-1)^J = p_in p_out``.
    """
    l_in, l_out = _check_order(l_in), _check_order(l_out)
    parities = _check_parities(parities)
    sign = None if parities is None else parities[0] * parities[1]
    config = get_basis_config(basis)
    max_radius = _max_radius(kernel_size, spacing)
    radii, widths = config.shells(max_radius)
    bandlimit = config.bandlimit_fn()
    out = []
    for radius, width in zip(radii, widths):
        j_max = bandlimit(radius, max_radius)
        for J in range(abs(l_in - l_out), l_in + l_out + 1):
            if sign is not None and (-1) ** J != sign:
                continue  # the inversion forbids it (O(3))
            # At r = 0 a direction is undefined: only J = 0 survives.
            if J <= j_max and (radius > 1e-9 or J == 0):
                out.append((J, float(radius), float(width)))
    return out


def basis_size(l_in, l_out, kernel_size, spacing=1.0, basis="default", parities=None):
    """Number of basis kernels for the pair ``l_in -> l_out`` (see
    :func:`basis_elements` for ``parities``)."""
    return len(basis_elements(l_in, l_out, kernel_size, spacing, basis, parities))


@functools.lru_cache(maxsize=256)
def _grid_fields(J, radius, width, kernel_size, spacing, config):
    points = grid_points(kernel_size, spacing)
    field = sample_on_grid(J, radius, width, points, config.moment_order)
    norm = np.linalg.norm(field)
    if norm < 1e-12:
        raise ValueError(
            f"The basis shell at radius {radius} (J = {J}) has no support on a "
            f"{kernel_size} kernel; choose radii inside the kernel."
        )
    return field / norm, norm


def kernel_basis(l_in, l_out, kernel_size, spacing=1.0, basis="default", parities=None):
    """The sampled basis of the pair ``l_in -> l_out`` on the kernel grid.

    Args:
        l_in, l_out: orders of the input and output fields.
        kernel_size: odd int or 3 odd ints.
        spacing: voxel size, one number or ``(dx, dy, dz)``.
        basis: preset name (``"default"``, ``"paper"``), ``BasisConfig`` or dict.
        parities: None (SO(3) fields) or ``(p_in, p_out)`` of O(3) fields: the
            subset of the SO(3) basis whose ``J`` the inversion allows.

    Returns:
        float64 array ``[n_basis, kx, ky, kz, 2 l_in + 1, 2 l_out + 1]``; every
        basis kernel has unit Frobenius norm.  A pure function of its arguments.
    """
    sizes, steps = normalize_kernel_size(kernel_size), normalize_spacing(spacing)
    config = get_basis_config(basis)
    elements = basis_elements(l_in, l_out, sizes, steps, config, parities)
    out = np.zeros((len(elements),) + sizes + (2 * l_in + 1, 2 * l_out + 1))
    for index, (J, radius, width) in enumerate(elements):
        field, _ = _grid_fields(J, radius, width, sizes, steps, config)
        q = change_of_basis(l_out, l_in, J)  # [out, in, 2J+1]
        # Q is an isometry, so the kernel keeps the field's unit norm.
        out[index] = np.einsum("oic,pc->pio", q, field).reshape(out.shape[1:])
    return out


def evaluate_basis(
    l_in, l_out, points, kernel_size, spacing=1.0, basis="default", parities=None
):
    """The continuous basis that :func:`kernel_basis` samples, at arbitrary points.

    This is the analytic basis ``Q^J Y^J(x/|x|) phi_m(|x|)``, scaled by the same
    constants as the grid version.  Use it to check the kernel constraint
    ``K(Rx) = D^{l_out}(R) K(x) D^{l_in}(R)^T`` away from the grid.  With point
    sampling (``basis="paper"``) the grid kernels are exactly its values at the
    voxel centres; with a moment correction (``moment_order``, as in
    ``basis="default"``) the grid kernels are those samples after the correction,
    which changes them (by up to ~70% for the J = 2 outer shell at k = 5): the
    correction is what makes the *sampled* kernel act like the continuous one.

    Args:
        points: ``[N, 3]`` in units of the smallest voxel spacing.
        parities: as for :func:`kernel_basis`.

    Returns:
        ``[n_basis, N, 2 l_in + 1, 2 l_out + 1]``.
    """
    sizes, steps = normalize_kernel_size(kernel_size), normalize_spacing(spacing)
    config = get_basis_config(basis)
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"`points` must have shape [N, 3], got {points.shape}.")
    elements = basis_elements(l_in, l_out, sizes, steps, config, parities)
    out = np.zeros((len(elements), len(points), 2 * l_in + 1, 2 * l_out + 1))
    for index, (J, radius, width) in enumerate(elements):
        _, norm = _grid_fields(J, radius, width, sizes, steps, config)
        field = angular_radial(J, radius, width, points) / norm
        out[index] = np.einsum("oic,pc->pio", change_of_basis(l_out, l_in, J), field)
    return out
