import subprocess
import sys

import numpy as np
import pytest

from keras_se3 import FieldType, so3
from keras_se3.basis import (
    BasisConfig,
    basis_elements,
    basis_size,
    evaluate_basis,
    get_basis_config,
    grid_points,
    kernel_basis,
    serialize_basis,
)

# Basis counts of the paper's basis (compromise bandlimit), rows l_in.
PAPER_COUNTS = {
    3: [[2, 1, 1, 1], [1, 4, 3, 2], [1, 3, 5, 3], [1, 2, 3, 5]],
    5: [[3, 2, 2, 2], [2, 7, 6, 5], [2, 6, 10, 8], [2, 5, 8, 11]],
    7: [[4, 3, 3, 3], [3, 10, 9, 8], [3, 9, 15, 13], [3, 8, 13, 18]],
}
PAIRS = [(l_in, l_out) for l_in in range(4) for l_out in range(4)]


@pytest.mark.parametrize("size", [3, 5, 7])
def test_paper_basis_counts(size):
    counts = [
        [basis_size(a, b, size, basis="paper") for b in range(4)] for a in range(4)
    ]
    assert counts == PAPER_COUNTS[size]
    for a in range(4):
        for b in range(4):
            assert kernel_basis(a, b, size, basis="paper").shape[0] == counts[a][b]


@pytest.mark.parametrize("basis", ["paper", "default"])
@pytest.mark.parametrize("l_in, l_out", PAIRS)
def test_kernel_constraint_at_continuous_points(basis, l_in, l_out):
    rng = np.random.default_rng(l_in * 4 + l_out)
    points = rng.uniform(-2.5, 2.5, size=(30, 3))
    rotation = so3.random_rotation(seed=l_in * 4 + l_out)
    k = evaluate_basis(l_in, l_out, points, 5, basis=basis)
    k_rot = evaluate_basis(l_in, l_out, points @ rotation.T, 5, basis=basis)
    # K(Rx) = D^out K(x) D^in^T, kernel stored as [.., in, out].
    expected = np.einsum(
        "ij,bnjo,po->bnip",
        so3.wigner_D(l_in, rotation),
        k,
        so3.wigner_D(l_out, rotation),
    )
    np.testing.assert_allclose(k_rot, expected, atol=1e-8 * np.abs(k).max(initial=1.0))


@pytest.mark.parametrize("basis", ["paper", "default"])
@pytest.mark.parametrize("l_in, l_out", [(0, 0), (1, 2), (2, 2), (3, 1)])
def test_grid_basis_exact_under_cube_rotations(basis, l_in, l_out):
    kernels = kernel_basis(l_in, l_out, 5, basis=basis)
    points = grid_points(5)
    for rotation in so3.cube_rotations():
        # K(R y) on the grid: gather the sample at R y for each y.
        target = points @ rotation.T
        index = np.argmin(((target[:, None] - points[None]) ** 2).sum(-1), axis=1)
        flat = kernels.reshape(len(kernels), -1, 2 * l_in + 1, 2 * l_out + 1)
        expected = np.einsum(
            "ij,bnjo,po->bnip",
            so3.wigner_D(l_in, rotation),
            flat,
            so3.wigner_D(l_out, rotation),
        )
        np.testing.assert_allclose(flat[:, index], expected, atol=1e-10)


def test_unit_norm_and_independent():
    for l_in, l_out in PAIRS:
        kernels = kernel_basis(l_in, l_out, 5, basis="paper")
        flat = kernels.reshape(len(kernels), -1)
        np.testing.assert_allclose(np.linalg.norm(flat, axis=1), 1.0, rtol=1e-12)
        assert np.linalg.matrix_rank(flat, tol=1e-6) == len(kernels)


def test_grid_samples_match_the_analytic_basis_for_point_sampling():
    points = grid_points(5)
    grid = kernel_basis(2, 1, 5, basis="paper").reshape(-1, 125, 5, 3)
    np.testing.assert_allclose(
        grid, evaluate_basis(2, 1, points, 5, basis="paper"), atol=1e-14
    )


def test_anisotropic_spacing_uses_physical_coordinates():
    spacing = (1.0, 1.0, 2.0)
    points = grid_points((5, 5, 3), spacing)
    assert np.allclose(np.unique(points[:, 2]), [-2.0, 0.0, 2.0])
    kernels = kernel_basis(1, 1, (5, 5, 3), spacing, basis="paper")
    np.testing.assert_allclose(
        kernels.reshape(len(kernels), -1, 3, 3),
        evaluate_basis(1, 1, points, (5, 5, 3), spacing, basis="paper"),
        atol=1e-14,
    )
    # A rotation about z maps this grid onto itself: exact equivariance there.
    quarter = so3.rotation_about_axis([0, 0, 1], np.pi / 2)
    rotated = evaluate_basis(
        1, 1, points @ quarter.T, (5, 5, 3), spacing, basis="paper"
    )
    expected = np.einsum(
        "ij,bnjo,po->bnip", quarter, kernels.reshape(len(kernels), -1, 3, 3), quarter
    )
    np.testing.assert_allclose(rotated, expected, atol=1e-12)


def test_deterministic_within_and_across_processes():
    first = kernel_basis(2, 3, 5)
    kernel_basis.__globals__["_grid_fields"].cache_clear()
    assert np.array_equal(first, kernel_basis(2, 3, 5))
    code = (
        "import sys; from keras_se3.basis import kernel_basis;"
        "sys.stdout.buffer.write(kernel_basis(2, 3, 5).tobytes())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    assert out.stdout == np.ascontiguousarray(first).tobytes()


def test_config_round_trip_and_errors():
    config = BasisConfig(radii=(0.0, 1.0, 2.0), widths=0.5, bandlimit="conservative")
    assert get_basis_config(serialize_basis(config)) == config
    assert get_basis_config(serialize_basis("paper")) == get_basis_config("paper")
    with pytest.raises(ValueError, match="Unknown basis preset"):
        get_basis_config("fancy")
    with pytest.raises(ValueError, match="Unknown bandlimit"):
        BasisConfig(bandlimit="wide")
    with pytest.raises(ValueError, match="Unknown basis settings"):
        get_basis_config({"sigma": 1.0})
    with pytest.raises(ValueError, match="widths"):
        BasisConfig(widths=-1.0)
    with pytest.raises(ValueError, match="cannot be serialized"):
        serialize_basis(BasisConfig(bandlimit=lambda r, big_r: 1))
    with pytest.raises(ValueError, match="odd"):
        kernel_basis(0, 0, 4)
    with pytest.raises(ValueError, match="spacing"):
        kernel_basis(0, 0, 3, spacing=(1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="no support"):
        kernel_basis(0, 0, 3, basis=BasisConfig(radii=(9.0,), widths=0.1))


def test_custom_bandlimit_callable():
    config = BasisConfig(bandlimit=lambda radius, max_radius: 1)
    # J = 0 at the centre, J = 0 and 1 on the shells at radius 1 and 2.
    assert basis_size(2, 2, 5, basis=config) == 5


O3_PAIRS = [
    (l_in, p_in, l_out, p_out)
    for l_in in range(4)
    for l_out in range(4)
    for p_in in (1, -1)
    for p_out in (1, -1)
]


@pytest.mark.parametrize("basis", ["paper", "default"])
def test_o3_basis_keeps_the_orders_the_inversion_allows(basis):
    for l_in, p_in, l_out, p_out in O3_PAIRS:
        so3_elements = basis_elements(l_in, l_out, 5, basis=basis)
        o3_elements = basis_elements(
            l_in, l_out, 5, basis=basis, parities=(p_in, p_out)
        )
        # J's parity (-1)^J must be p_in p_out; every SO(3) element is in exactly
        # one of the two parity classes, so they split the SO(3) basis.
        assert o3_elements == [e for e in so3_elements if (-1) ** e[0] == p_in * p_out]
        other = basis_elements(l_in, l_out, 5, basis=basis, parities=(p_in, -p_out))
        assert len(o3_elements) + len(other) == len(so3_elements)
    # Scalar to scalar: only even J (the radial profiles); to a pseudo-scalar:
    # none at kernel size 5 with J <= 0 + 0 (J = 0 is even).
    assert basis_size(0, 0, 5, basis=basis, parities=(1, -1)) == 0
    assert basis_size(0, 1, 5, basis=basis, parities=(1, -1)) == basis_size(
        0, 1, 5, basis=basis
    )  # scalar -> vector: J = 1, odd
    assert basis_size(0, 1, 5, basis=basis, parities=(1, 1)) == 0  # -> pseudo-vector


@pytest.mark.parametrize("basis", ["paper", "default"])
@pytest.mark.parametrize(
    "l_in, p_in, l_out, p_out",
    [(0, 1, 1, -1), (1, -1, 1, 1), (1, 1, 2, 1), (2, -1, 3, 1), (3, 1, 1, -1)],
)
def test_o3_grid_basis_exact_under_the_48_cube_symmetries(
    basis, l_in, p_in, l_out, p_out
):
    kernels = kernel_basis(l_in, l_out, 5, basis=basis, parities=(p_in, p_out))
    assert len(kernels)
    points = grid_points(5)
    flat = kernels.reshape(len(kernels), -1, 2 * l_in + 1, 2 * l_out + 1)
    f_in, f_out = (FieldType([(1, l, p)]) for l, p in ((l_in, p_in), (l_out, p_out)))
    for g in so3.cube_symmetries():
        # K(g y) on the grid: gather the sample at g y for each y.
        target = points @ g.T
        index = np.argmin(((target[:, None] - points[None]) ** 2).sum(-1), axis=1)
        expected = np.einsum(
            "ij,bnjo,po->bnip", f_in.representation(g), flat, f_out.representation(g)
        )
        np.testing.assert_allclose(flat[:, index], expected, atol=1e-10)


def test_bad_parities_are_a_clear_error():
    for bad in [(1,), (1, 0), (True, 1), "eo"]:
        with pytest.raises(ValueError, match="`parities` must be"):
            basis_size(1, 1, 5, parities=bad)
