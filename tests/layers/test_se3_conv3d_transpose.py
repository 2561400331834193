import numpy as np
import pytest

from keras_se3 import so3
from keras_se3.layers import SE3Conv3D, SE3Conv3DTranspose
from keras_se3.transforms import rotate_grid
from tests.backend import to_numpy


def _relative(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("strides, padding", [(2, "same"), (1, "same"), (2, "valid")])
def test_exact_equivariance_and_centred_grid(strides, padding):
    in_type, out_type = "2x0 + 1x1 + 1x2", "1x0 + 1x1 + 1x3"
    layer = SE3Conv3DTranspose(
        out_type, 3, in_fields=in_type, strides=strides, padding=padding
    )
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 5, 10)).astype("float32")
    y = to_numpy(layer(x))
    assert y.shape == layer.compute_output_shape(x.shape)
    for rotation in so3.cube_rotations():
        y_rot = to_numpy(layer(rotate_grid(x, rotation, in_type)))
        assert _relative(y_rot, rotate_grid(y, rotation, out_type)) <= 1e-5


def test_sizes_invert_strided_downsampling():
    down = SE3Conv3D("2x0", 3, strides=2)
    up = SE3Conv3DTranspose("1x0", 3, in_fields="2x0", strides=2)
    x = np.zeros((1, 9, 9, 9, 1), "float32")
    assert tuple(up(down(x)).shape) == (1, 9, 9, 9, 1)


def test_upsamples_a_point_into_a_centred_kernel_footprint():
    layer = SE3Conv3DTranspose("1x0", 3, in_fields="1x0", strides=2, use_bias=False)
    x = np.zeros((1, 3, 3, 3, 1), "float32")
    x[0, 1, 1, 1, 0] = 1.0  # the centre voxel
    y = to_numpy(layer(x))[0, ..., 0]
    assert y.shape == (5, 5, 5)
    # The centre's kernel lands on output voxels 1..3 around the output centre.
    np.testing.assert_allclose(
        y[1:4, 1:4, 1:4], to_numpy(layer.assembled_kernel())[..., 0, 0]
    )
    assert np.count_nonzero(y) == np.count_nonzero(y[1:4, 1:4, 1:4])


def test_config_round_trip_and_errors():
    layer = SE3Conv3DTranspose("1x1", 3, in_fields="1x0", strides=2)
    clone = SE3Conv3DTranspose.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="padding"):
        SE3Conv3DTranspose("1x1", 3, padding=1)
    with pytest.raises(ValueError, match="dilation"):
        SE3Conv3DTranspose("1x1", 3, dilation_rate=2)


def test_o3_exact_equivariance_under_the_48_cube_symmetries():
    in_type, out_type = "1x0e + 1x1e", "1x0o + 1x1o + 1x0e"
    layer = SE3Conv3DTranspose(
        out_type, 3, in_fields=in_type, strides=2, bias_initializer="ones"
    )
    x = np.random.default_rng(0).normal(size=(1, 4, 4, 4, 4)).astype("float32")
    y = to_numpy(layer(x))
    for g in so3.cube_symmetries():
        y_g = to_numpy(layer(rotate_grid(x, g, in_type)))
        expected = rotate_grid(y, g, out_type)
        assert np.linalg.norm(y_g - expected) <= 1e-5 * np.linalg.norm(expected)


@pytest.mark.parametrize("size", [1, 3])
def test_grids_smaller_than_the_kernel_scatter_whole_kernels(size):
    # A forward conv with kernel 5 has no output on a 3^3 grid; the transposed
    # one does: s (n - 1) + k voxels ("valid"), whose centre crop is "same".
    kwargs = dict(in_fields="1x0 + 1x1", strides=2, bias_initializer="ones")
    valid = SE3Conv3DTranspose("2x0 + 1x1", 5, padding="valid", **kwargs)
    same = SE3Conv3DTranspose("2x0 + 1x1", 5, padding="SAME", **kwargs)
    x = np.random.default_rng(size).normal(size=(1, size, size, size, 4))
    x = x.astype("float32")
    y_valid = to_numpy(valid(x))
    n = 2 * (size - 1) + 5
    assert y_valid.shape == (1, n, n, n, 5) == valid.compute_output_shape(x.shape)
    same.build(x.shape)
    same.set_weights(valid.get_weights())
    y_same = to_numpy(same(x))
    assert y_same.shape == (1, n - 4, n - 4, n - 4, 5)
    np.testing.assert_allclose(y_same, y_valid[:, 2:-2, 2:-2, 2:-2], atol=1e-6)


def test_signature_matches_se3_conv3d():
    # in_fields is the third positional argument, as in SE3Conv3D.
    layer = SE3Conv3DTranspose("1x1", 3, "2x0", strides=2)
    assert layer.in_fields == "2x0" and layer.strides == (2, 2, 2)
    assert layer.padding == SE3Conv3DTranspose("1x1", 3, padding="Same").padding
