import keras
import numpy as np
import pytest

from keras_se3 import FieldType, so3
from keras_se3.layers import LowPassDownsampling3D
from keras_se3.layers.low_pass import gaussian_kernel_1d
from keras_se3.transforms import rotate_grid
from tests.backend import gradients, to_numpy

FIELDS = "2x0 + 1x1 + 1x2 + 1x0 + 1x3"


def _relative(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def _random_input(channels, size, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, size, size, size, channels)).astype("float32")


def test_paper_kernel():
    k = gaussian_kernel_1d(2)
    assert len(k) == 5 and np.isclose(k.sum(), 1.0)
    sigma = 0.5 * np.sqrt(3)
    expected = np.exp(-(np.arange(-2, 3) ** 2) / (2 * sigma**2))
    np.testing.assert_allclose(k, expected / expected.sum())
    assert len(gaussian_kernel_1d(3)) == 9  # sigma = 1.41: int(8.07) = 8 -> 9
    np.testing.assert_array_equal(gaussian_kernel_1d(1), [1.0])


def test_paper_kernel_sizes_are_odd():
    for factor in range(2, 6):
        sigma = 0.5 * np.sqrt(factor**2 - 1)
        size = int(1 + 5 * sigma)
        assert len(gaussian_kernel_1d(factor)) == size + 1 - size % 2


@pytest.mark.parametrize(
    "factor, method, size",
    [(2, "gaussian", 9), (3, "gaussian", 7), (2, "average", 8), (3, "average", 9)],
)
def test_exact_equivariance_on_centred_grids(factor, method, size):
    layer = LowPassDownsampling3D(factor, method)
    x = _random_input(FieldType(FIELDS).dim, size)
    y = to_numpy(layer(x))
    for rotation in so3.cube_rotations():
        y_rot = to_numpy(layer(rotate_grid(x, rotation, FIELDS)))
        assert _relative(y_rot, rotate_grid(y, rotation, FIELDS)) <= 1e-5


@pytest.mark.parametrize("method, size", [("gaussian", 9), ("average", 8)])
def test_o3_exact_under_the_48_cube_symmetries(method, size):
    # Channel-wise and isotropic: fields of any parity pass through.
    fields = "2x0e + 1x0o + 1x1o + 1x1e + 1x2o"
    layer = LowPassDownsampling3D(2, method)
    x = _random_input(FieldType(fields).dim, size)
    y = to_numpy(layer(x))
    for g in so3.cube_symmetries():
        y_g = to_numpy(layer(rotate_grid(x, g, fields)))
        assert _relative(y_g, rotate_grid(y, g, fields)) <= 1e-5


def test_uncentred_grid_breaks_equivariance():
    # An even grid with stride 2 is not centred: the check above is meaningful.
    layer = LowPassDownsampling3D(2)
    x = _random_input(1, 8)
    rotation = np.diag([-1.0, -1.0, 1.0])  # flips x and y
    error = _relative(
        to_numpy(layer(rotate_grid(x, rotation))),
        rotate_grid(to_numpy(layer(x)), rotation),
    )
    assert error > 1e-2


@pytest.mark.parametrize("method", ["gaussian", "average"])
def test_matches_a_dense_reference(method):
    layer = LowPassDownsampling3D(2, method)
    x = _random_input(3, 7, batch=1)
    y = to_numpy(layer(x))
    kernel, p = layer.blur_kernel_3d(), layer.padding
    k = kernel.shape[0]
    padded = np.pad(x, [(0, 0), (p, p), (p, p), (p, p), (0, 0)])
    n_out = layer.compute_output_shape(x.shape)[1]
    expected = np.zeros((1, n_out, n_out, n_out, 3))
    for i in range(n_out):
        for j in range(n_out):
            for m in range(n_out):
                block = padded[
                    0, 2 * i : 2 * i + k, 2 * j : 2 * j + k, 2 * m : 2 * m + k
                ]
                expected[0, i, j, m] = np.einsum("abcd,abc->d", block, kernel)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "factor, method, sizes, expected",
    [
        (2, "gaussian", (9, 8, 5), (5, 4, 3)),
        (3, "gaussian", (7, 9, 4), (3, 3, 2)),
        (2, "average", (9, 8, 5), (4, 4, 2)),
        (1, "gaussian", (5, 4, 3), (5, 4, 3)),
    ],
)
def test_output_shapes(factor, method, sizes, expected):
    layer = LowPassDownsampling3D(factor, method)
    x = np.zeros((2, *sizes, 3), "float32")
    assert tuple(layer(x).shape) == (2, *expected, 3)
    assert layer.compute_output_shape(x.shape) == (2, *expected, 3)


def test_constant_is_preserved_away_from_the_border():
    layer = LowPassDownsampling3D(2)
    y = to_numpy(layer(np.ones((1, 13, 13, 13, 2), "float32")))
    np.testing.assert_allclose(y[:, 1:-1, 1:-1, 1:-1], 1.0, rtol=1e-6)


def test_unknown_spatial_size_and_gradient():
    inputs = keras.Input((None, None, None, 2))
    model = keras.Model(inputs, LowPassDownsampling3D(2)(inputs))
    x = _random_input(2, 7)
    assert model(x).shape == (2, 4, 4, 4, 2)
    (grad,), _ = gradients(lambda x: keras.ops.sum(model(x)), [x])
    assert grad.shape == x.shape and np.all(np.isfinite(grad))


def test_save_and_reload(tmp_path):
    inputs = keras.Input((9, 9, 9, 3))
    model = keras.Model(inputs, LowPassDownsampling3D(2, "gaussian")(inputs))
    path = tmp_path / "lp.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    x = _random_input(3, 9)
    np.testing.assert_array_equal(to_numpy(reloaded(x)), to_numpy(model(x)))


@pytest.mark.parametrize("method", ["gaussian", "average"])
def test_mixed_precision(method):
    layer = LowPassDownsampling3D(2, method, dtype="mixed_bfloat16")
    y = layer(_random_input(3, 9))
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"


def test_bad_arguments():
    with pytest.raises(ValueError, match="factor"):
        LowPassDownsampling3D(0)
    with pytest.raises(ValueError, match="method"):
        LowPassDownsampling3D(2, "max")
    with pytest.raises(ValueError, match="too small"):
        LowPassDownsampling3D(4, "average").compute_output_shape((1, 3, 3, 3, 1))


def test_blur_only_keeps_the_size_and_needs_the_gaussian():
    blur = LowPassDownsampling3D(2, subsample=False)
    x = np.random.default_rng(0).normal(size=(1, 7, 7, 7, 2)).astype("float32")
    y = to_numpy(blur(x))
    assert y.shape == x.shape == blur.compute_output_shape(x.shape)
    # Subsampling the blurred grid is the downsampling layer.
    np.testing.assert_allclose(
        y[:, ::2, ::2, ::2], to_numpy(LowPassDownsampling3D(2)(x)), atol=1e-6
    )
    with pytest.raises(ValueError, match="subsample=False"):
        LowPassDownsampling3D(2, method="average", subsample=False)


@pytest.mark.parametrize("method", ["gaussian", "average"])
def test_float64_matches_float32(method, float64):
    # float64 runs on TensorFlow's Eigen kernels, which reject unequal strides.
    x = np.random.default_rng(0).normal(size=(2, 9, 9, 9, 3))
    y64 = LowPassDownsampling3D(2, method=method, dtype="float64")(x)
    y32 = LowPassDownsampling3D(2, method=method)(x.astype("float32"))
    assert (
        keras.backend.standardize_dtype(y64.dtype) == "float64"
        and y64.shape == y32.shape
    )
    np.testing.assert_allclose(to_numpy(y64), to_numpy(y32), atol=1e-5)


def test_sigma_sets_the_gaussian():
    k = gaussian_kernel_1d(2, sigma=1.2)
    assert len(k) == 7  # int(1 + 6) = 7, odd
    expected = np.exp(-(np.arange(-3, 4) ** 2) / (2 * 1.2**2))
    np.testing.assert_allclose(k, expected / expected.sum())
    layer = LowPassDownsampling3D(2, sigma=1.2)
    np.testing.assert_array_equal(layer.blur_kernel_1d(), k)
    assert layer.padding == 3
    # A wider filter keeps exact cube-rotation equivariance on a centred grid.
    x = _random_input(FieldType(FIELDS).dim, 9)
    y = to_numpy(layer(x))
    for rotation in so3.cube_rotations()[:6]:
        y_rot = to_numpy(layer(rotate_grid(x, rotation, FIELDS)))
        assert _relative(y_rot, rotate_grid(y, rotation, FIELDS)) <= 1e-5


def test_sigma_with_factor_one_is_a_plain_blur():
    x = _random_input(2, 7, batch=1)
    blur = LowPassDownsampling3D(1, sigma=0.8)
    y = to_numpy(blur(x))
    k = gaussian_kernel_1d(1, 0.8)
    expected = x.astype("float64")
    for axis in (1, 2, 3):  # separable, zero outside the grid
        expected = np.apply_along_axis(np.convolve, axis, expected, k, mode="same")
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    assert blur.compute_output_shape(x.shape) == x.shape
    # Without a sigma, factor 1 is the identity.
    np.testing.assert_array_equal(to_numpy(LowPassDownsampling3D(1)(x)), x)


def test_sigma_round_trips_and_bad_values_are_rejected(tmp_path):
    inputs = keras.Input((9, 9, 9, 2))
    model = keras.Model(inputs, LowPassDownsampling3D(2, sigma=1.1)(inputs))
    model.save(tmp_path / "lp.keras")
    reloaded = keras.saving.load_model(tmp_path / "lp.keras", safe_mode=True)
    assert reloaded.layers[-1].sigma == 1.1
    x = _random_input(2, 9)
    np.testing.assert_array_equal(to_numpy(reloaded(x)), to_numpy(model(x)))
    for bad in (0, -1.0, "wide", True):
        with pytest.raises(ValueError, match="sigma"):
            LowPassDownsampling3D(2, sigma=bad)
    with pytest.raises(ValueError, match="sigma"):
        LowPassDownsampling3D(2, method="average", sigma=1.0)
