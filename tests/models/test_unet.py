"""se3_unet and unet_cnn: per-voxel outputs that rotate with the input."""

import re

import keras
import numpy as np
import pytest

import keras_se3
from keras_se3 import FieldType, so3
from keras_se3.export.exporters import relative_error
from keras_se3.models import se3_unet, unet_cnn, unet_grid_sizes
from keras_se3.transforms import rotate_grid
from tests.backend import to_numpy
from tests.layer_checks import (
    assert_stock_only,
    randomize_weights,
    update_bn_statistics,
)

SMALL = ["2x0 + 1x1 + 1x2", "3x0 + 1x1 + 1x2", "3x0 + 2x1"]


def _trained_looking(net, size, rng):
    randomize_weights(net, rng)
    channels = net.inputs[0].shape[-1]
    update_bn_statistics(net, (2, size, size, size, channels), rng)
    return net


@pytest.mark.parametrize("size", [9, 13])
def test_scalars_move_and_vectors_turn_with_the_cube_rotations(size, rng):
    keras.utils.set_random_seed(4)
    out = FieldType("2x0 + 1x1")
    net = _trained_looking(se3_unet("1x0", out, levels=2, hidden_fields=SMALL), 9, rng)
    x = rng.normal(size=(1, size, size, size, 1)).astype("float32")
    y = to_numpy(net(x, training=False))
    assert y.shape == (1, size, size, size, out.dim)
    group = so3.cube_rotations()
    moved = np.concatenate([rotate_grid(x, g) for g in group])
    outputs = to_numpy(net(moved, training=False))
    for i, g in enumerate(group):
        expected = rotate_grid(y, g, out)
        assert relative_error([expected], [outputs[i : i + 1]]) <= 1e-5, i


def test_o3_types_are_exact_under_rotations_and_reflections(rng):
    keras.utils.set_random_seed(5)
    out = FieldType("1x0e + 1x1o")
    # From scalars 0e only the natural parities are reached: 0e, 1o, 2e, ...
    hidden = ["2x0e + 1x1o + 1x2e", "3x0e + 2x1o"]
    net = se3_unet("1x0e", out, levels=1, hidden_fields=hidden)
    net = _trained_looking(net, 5, rng)
    x = rng.normal(size=(1, 5, 5, 5, 1)).astype("float32")
    y = to_numpy(net(x, training=False))
    group = so3.cube_symmetries()
    outputs = to_numpy(net(np.concatenate([rotate_grid(x, g) for g in group])))
    for i, g in enumerate(group):
        expected = rotate_grid(y, g, out)
        assert relative_error([expected], [outputs[i : i + 1]]) <= 1e-5, i


def test_grid_sizes_the_levels_do_not_divide_are_a_clear_error():
    assert unet_grid_sizes(2, 30) == [5, 9, 13, 17, 21, 25, 29]
    for build in (se3_unet, unet_cnn):
        with pytest.raises(
            ValueError, match=re.escape("Sizes that work: 5, 9, 13, 17")
        ):
            build(levels=2, input_shape=(16, 16, 16, 1))
        with pytest.raises(ValueError, match="divisible by 2"):
            build(levels=1, input_shape=(9, 9, 8, 1))
    # Built for any size (None), called on one the levels do not divide.
    net = se3_unet(levels=1, hidden_fields=SMALL[:2])
    with pytest.raises(ValueError, match="unet_grid_sizes"):
        net(np.zeros((1, 10, 10, 10, 1), "float32"))
    with pytest.raises(ValueError, match="levels \\+ 1 = 3 hidden field types"):
        se3_unet(levels=2, hidden_fields=SMALL[:2])


def test_saves_loads_and_collapses_to_stock_layers(rng, tmp_path):
    keras.utils.set_random_seed(6)
    net = se3_unet("1x0", "3x0 + 1x1", levels=1, hidden_fields=SMALL[:2])
    net = _trained_looking(net, 5, rng)
    x = rng.normal(size=(2, 9, 9, 9, 1)).astype("float32")
    y = to_numpy(net(x, training=False))
    net.save(tmp_path / "unet.keras")
    loaded = keras.saving.load_model(tmp_path / "unet.keras")
    np.testing.assert_allclose(to_numpy(loaded(x, training=False)), y, atol=1e-5)
    collapsed = keras_se3.collapse(net)
    assert_stock_only(collapsed)
    assert relative_error([y], [to_numpy(collapsed(x))]) <= 1e-5


def test_the_cnn_counterpart_has_the_same_grids_and_comparable_width():
    keras.utils.set_random_seed(7)
    cnn = unet_cnn(1, 6, levels=2)
    assert tuple(cnn(np.zeros((1, 13, 13, 13, 1))).shape) == (1, 13, 13, 13, 6)
    net = se3_unet("1x0", "6x0", levels=2)
    ratio = cnn.count_params() / net.count_params()
    assert 1 < ratio < 100, ratio  # a CNN has more weights per channel
