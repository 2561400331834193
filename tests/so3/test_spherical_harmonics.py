import numpy as np
import pytest

from keras_se3 import so3

ORDERS = list(range(11))


@pytest.mark.parametrize("l", ORDERS)
def test_equivariance_and_orthonormality(l, rng):
    x = rng.normal(size=(40, 3))
    rotation = so3.random_rotation(seed=l)
    y = so3.spherical_harmonics(l, x)
    y_rot = so3.spherical_harmonics(l, x @ rotation.T)
    np.testing.assert_allclose(y_rot, y @ so3.wigner_D(l, rotation).T, atol=1e-10)
    # Orthonormal on the sphere: Monte Carlo would be loose; use the exact rule.
    from keras_se3.so3.wigner import _sphere_quadrature

    points, weighted = _sphere_quadrature(l)
    gram = so3.spherical_harmonics(l, points).T @ weighted
    np.testing.assert_allclose(gram, np.eye(2 * l + 1), atol=1e-12)


def test_order_one_is_cartesian_xyz():
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, -2.0]])
    expected = np.sqrt(3 / (4 * np.pi)) * x / np.linalg.norm(x, axis=1, keepdims=True)
    np.testing.assert_allclose(so3.spherical_harmonics(1, x), expected, atol=1e-15)


def test_scale_invariant_and_zero_vector():
    x = np.array([0.3, -0.2, 0.9])
    for l in range(4):
        np.testing.assert_allclose(
            so3.spherical_harmonics(l, 7.5 * x),
            so3.spherical_harmonics(l, x),
            atol=1e-14,
        )
    assert np.all(so3.spherical_harmonics(2, np.zeros(3)) == 0)
    np.testing.assert_allclose(
        so3.spherical_harmonics(0, np.zeros(3)), [0.5 / np.sqrt(np.pi)]
    )


def test_component_normalization():
    x = np.random.default_rng(0).normal(size=(5, 3))
    y = so3.spherical_harmonics(3, x, normalization="component")
    np.testing.assert_allclose(np.sum(y**2, axis=-1), 7.0, rtol=1e-12)


def test_accurate_near_the_poles():
    # theta from arctan2 keeps accuracy where arccos(z) would lose half the digits.
    x = np.array([[1e-9, 0.0, 1.0]])
    y = so3.spherical_harmonics(1, x)
    np.testing.assert_allclose(y[0, 0], np.sqrt(3 / (4 * np.pi)) * 1e-9, rtol=1e-9)


@pytest.mark.parametrize(
    "args, message",
    [
        ((-1, [1.0, 0, 0]), "non-negative"),
        ((1.5, [1.0, 0, 0]), "non-negative"),
        ((1, [1.0, 0]), "size 3"),
    ],
)
def test_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        so3.spherical_harmonics(*args)
    with pytest.raises(ValueError, match="normalization"):
        so3.spherical_harmonics(1, [1.0, 0, 0], normalization="schmidt")
