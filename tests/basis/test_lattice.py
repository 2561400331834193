"""Grid sampling of the basis fields and their moment correction (basis.lattice)."""

import itertools

import numpy as np
import pytest

from keras_se3 import FieldType
from keras_se3.basis import BasisConfig, basis_size, grid_points, kernel_basis, lattice
from keras_se3.basis.lattice import (
    angular_radial,
    effective_moment_order,
    moment_correct,
    sample_on_grid,
)
from keras_se3.so3 import cube_rotations, random_rotation, spherical_harmonics, wigner_D

# A basis with the compromise bandlimit reaches J = 5 on a 5^3 kernel (J = 3 on 3^3).
CORRECTED = BasisConfig(widths=0.6, bandlimit="compromise", moment_order=6)


def moment_violation(field, points, order):
    """Largest deviation of ``H_{n,L} = sum_y A(y) |y|^n Y^L(y)^T`` from an
    intertwiner (0 for L != J, c I for L = J), relative to ``|A| max|y|^n``,
    computed directly (not with the constraint matrix of the module)."""
    J = (field.shape[1] - 1) // 2
    r = np.linalg.norm(points, axis=-1)
    worst = 0.0
    for n in range(order + 1):
        for L in range(n % 2, n + 1, 2):
            h = field.T @ (spherical_harmonics(L, points) * (r**n)[:, None])
            if L == J:
                h = h - np.trace(h) / (2 * J + 1) * np.eye(2 * J + 1)
            scale = np.linalg.norm(field) * max(r.max(), 1.0) ** n
            worst = max(worst, np.abs(h).max() / scale)
    return worst


@pytest.mark.parametrize(
    "J, radius, width",
    [(0, 2.0, 0.6), (1, 1.0, 0.6), (2, 2.0, 0.4), (3, 1.0, 0.6), (4, 2.0, 0.6)],
)
def test_moment_correction_satisfies_constraints(J, radius, width):
    points = grid_points(5)
    raw = angular_radial(J, radius, width, points)
    fixed = moment_correct(raw, points, 6)
    assert moment_violation(fixed, points, 6) < 1e-10
    # ... and there was something to correct.
    assert moment_violation(raw, points, 6) > 1e-4
    # A least change: the correction is orthogonal to the result (projection).
    assert abs(np.sum((raw - fixed) * fixed)) < 1e-10 * np.sum(raw**2)


@pytest.mark.parametrize("kernel_size, J, order", [(3, 1, 3), (5, 2, 4), (5, 3, 5)])
def test_correction_is_the_orthogonal_projection(kernel_size, J, order):
    # The cheap two-step projection equals the projection onto the null space of
    # the full constraint matrix (SVD), i.e. it is the least change.
    points = grid_points(kernel_size)
    raw = angular_radial(J, 1.0, 0.6, points)
    matrix = lattice.moment_constraints(J, points, order)
    _, s, vt = np.linalg.svd(matrix, full_matrices=False)
    rows = vt[: int(np.sum(s > s[0] * 1e-10))]
    expected = raw.ravel() - rows.T @ (rows @ raw.ravel())
    np.testing.assert_allclose(
        moment_correct(raw, points, order).ravel(), expected, atol=1e-12
    )


def test_point_samples_violate_low_moments():
    # The cube splits l = 2 into E + T2 with different second moments, and the
    # scalar ring picks up the cubic l = 4 invariant: the reasons for correcting.
    points = grid_points(5)
    assert moment_violation(angular_radial(2, 2.0, 0.4, points), points, 2) > 1e-3
    assert moment_violation(angular_radial(0, 2.0, 0.6, points), points, 4) > 1e-3


def test_no_correction_is_plain_samples():
    points = grid_points(5)
    np.testing.assert_array_equal(
        sample_on_grid(2, 1.0, 0.6, points), angular_radial(2, 1.0, 0.6, points)
    )


def test_coarse_grid_falls_back_to_a_lower_order():
    # On a 3^3 kernel the order-4 conditions leave no J = 2 field at all.
    points = grid_points(3)
    raw = angular_radial(2, 1.0, 0.6, points)
    assert np.linalg.norm(moment_correct(raw, points, 4)) < 0.05 * np.linalg.norm(raw)
    field = sample_on_grid(2, 1.0, 0.6, points, moment_order=6)
    order = effective_moment_order(2, 1.0, 0.6, points, 6)
    assert order == 3
    assert np.linalg.norm(field) >= lattice.MIN_KEPT_NORM * np.linalg.norm(raw)
    assert moment_violation(field, points, order) < 1e-10


def kernel_moment_error(basis_kernels, l_in, l_out, points, n, rotation):
    """Max over basis kernels of ``|rotate(M_n) - M_n| / sum_y |K(y)| |y|^n`` for
    the Cartesian moments ``M_n[i, o, a_1..a_n] = sum_y K(y)[i, o] y_a1 ... y_an``."""
    d_in, d_out = wigner_D(l_in, rotation), wigner_D(l_out, rotation)
    worst = 0.0
    for kernel in basis_kernels.reshape(
        len(basis_kernels), len(points), 2 * l_in + 1, -1
    ):
        m = kernel
        for _ in range(n):
            m = np.einsum("y...,ya->y...a", m, points)
        m = m.sum(axis=0)
        rotated = np.einsum("ij,ok,jk...->io...", d_in, d_out, m)
        for axis in range(2, 2 + n):
            rotated = np.moveaxis(
                np.tensordot(rotation, rotated, axes=([1], [axis])), 0, axis
            )
        scale = np.sum(
            np.abs(kernel) * np.linalg.norm(points, axis=1)[:, None, None] ** n
        )
        worst = max(worst, np.abs(rotated - m).max() / scale)
    return worst


@pytest.mark.parametrize("l_in, l_out", [(0, 0), (1, 2), (2, 2)])
def test_corrected_kernels_have_equivariant_moments(l_in, l_out):
    # Independent of the J / L decomposition: rotate the Cartesian moment tensors.
    rotation = random_rotation(seed=3)
    points = grid_points(5)
    fixed = kernel_basis(l_in, l_out, 5, basis=CORRECTED)
    plain = kernel_basis(l_in, l_out, 5, basis="paper")
    for n in range(5):
        assert kernel_moment_error(fixed, l_in, l_out, points, n, rotation) < 1e-9
    assert (
        max(
            kernel_moment_error(plain, l_in, l_out, points, n, rotation)
            for n in range(5)
        )
        > 1e-3
    )


def _point_permutation(points, g):
    """Index ``p`` with ``points[p[i]] = g^-1 points[i]``."""
    lookup = {tuple(np.rint(2 * p).astype(int)): i for i, p in enumerate(points)}
    return np.array([lookup[tuple(np.rint(2 * (g.T @ p)).astype(int))] for p in points])


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_cube_rotations_are_exact(kernel_size):
    points = grid_points(kernel_size)
    rotations = cube_rotations()
    pairs = [(0, 0), (0, 3), (1, 2), (2, 2), (3, 1), (3, 3)]
    for (l_in, l_out), basis in itertools.product(pairs, [CORRECTED, "default"]):
        kernels = kernel_basis(l_in, l_out, kernel_size, basis=basis)
        kernels = kernels.reshape(
            len(kernels), len(points), 2 * l_in + 1, 2 * l_out + 1
        )
        for g in rotations:
            # [g K](y) = D^in(g) K(g^-1 y) D^out(g)^T in the [.., in, out] layout.
            moved = kernels[:, _point_permutation(points, g)]
            moved = np.einsum(
                "ij,bpjk,lk->bpil", wigner_D(l_in, g), moved, wigner_D(l_out, g)
            )
            np.testing.assert_allclose(moved, kernels, atol=1e-10)


@pytest.mark.parametrize("kernel_size", [3, 5, 7])
def test_default_basis_is_well_conditioned(kernel_size):
    for l_in, l_out in itertools.product(range(3), repeat=2):
        kernels = kernel_basis(l_in, l_out, kernel_size)
        flat = kernels.reshape(len(kernels), -1)
        np.testing.assert_allclose(np.linalg.norm(flat, axis=1), 1.0, atol=1e-12)
        # Linearly independent, not close to it.
        assert np.linalg.svd(flat, compute_uv=False).min() > 0.1


def test_deterministic():
    points = grid_points(5)
    first = sample_on_grid(3, 2.0, 0.6, points, moment_order=6)
    lattice._constraint_projector.cache_clear()
    second = sample_on_grid(3, 2.0, 0.6, points, moment_order=6)
    np.testing.assert_array_equal(first, second)


def test_default_layer_keeps_its_coefficients():
    fields = FieldType("8x0 + 4x1 + 2x2")
    mult = {l: fields.multiplicity(l) for l in (0, 1, 2)}
    count = sum(
        mult[a] * mult[b] * basis_size(a, b, 5, basis="default")
        for a, b in itertools.product(mult, repeat=2)
    )
    assert count >= 588
