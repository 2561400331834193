"""FieldConcatenate: its errors, and a skip connection through a small U-shaped net.

The registered-layer harness (test_registered_layers.py) checks the layer alone
(roles, config, ``.keras``, collapse, the cube symmetries); here it joins an
encoder's map and an upsampled one, as in a U-Net.
"""

import re

import keras
import numpy as np
import pytest

import keras_se3
from keras_se3 import FieldConcatenate, SE3Conv3D, SE3Conv3DTranspose, so3
from keras_se3.export.exporters import relative_error
from keras_se3.transforms import rotate_grid
from tests.backend import to_numpy
from tests.layer_checks import assert_stock_only


@pytest.mark.parametrize(
    "fields, message",
    [
        ("2x0 + 1x1", "a list of the field types of its inputs"),
        (["2x0"], "at least two"),
        (["2x0", "1x1e"], "cannot join SO(3) and O(3)"),
    ],
)
def test_bad_field_lists_are_clear_errors(fields, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        FieldConcatenate(fields)


def test_inputs_that_do_not_match_are_clear_errors():
    join = FieldConcatenate(["2x0", "1x1"])
    with pytest.raises(ValueError, match=r"fields\[1\]='1x1' \(3 channels\)"):
        join([np.zeros((1, 4, 4, 4, 2)), np.zeros((1, 4, 4, 4, 2))])
    with pytest.raises(ValueError, match="takes 2 inputs, got 3"):
        FieldConcatenate(["2x0", "1x1"]).build(
            [(1, 4, 4, 4, 2), (1, 4, 4, 4, 3), (1, 4, 4, 4, 1)]
        )
    with pytest.raises(ValueError, match="one grid size"):
        FieldConcatenate(["2x0", "1x1"]).build([(1, 4, 4, 4, 2), (1, 5, 5, 5, 3)])


def _u_net(rng):
    """9^3 grid -> strided conv (5^3) -> transposed conv (9^3) -> joined with the
    first map -> conv to scalars and a vector per voxel."""
    inputs = keras.Input((9, 9, 9, 1))
    skip = SE3Conv3D("2x0 + 1x1", 3, in_fields="1x0", name="encode")(inputs)
    down = SE3Conv3D("2x0 + 1x2", 3, in_fields="2x0 + 1x1", strides=2)(skip)
    up = SE3Conv3DTranspose("1x1 + 1x0", 3, in_fields="2x0 + 1x2", strides=2)(down)
    join = FieldConcatenate(["2x0 + 1x1", "1x1 + 1x0"], name="skip")
    joined = join([skip, up])
    outputs = SE3Conv3D("1x0 + 1x1", 3, in_fields=join.output_fields)(joined)
    model = keras.Model(inputs, outputs)
    for weight in model.weights:
        if weight.path.endswith("bias"):
            weight.assign(rng.normal(scale=0.3, size=weight.shape).astype("float32"))
    return model


def test_a_skip_connection_is_exact_under_the_cube_rotations_and_collapses(
    rng, tmp_path
):
    keras.utils.set_random_seed(3)
    model = _u_net(rng)
    x = rng.normal(size=(1, 9, 9, 9, 1)).astype("float32")
    y = to_numpy(model(x))
    assert y.shape == (1, 9, 9, 9, 4)
    group = so3.cube_rotations()
    moved = np.concatenate([rotate_grid(x, g) for g in group])
    out = to_numpy(model(moved))
    for i, g in enumerate(group):
        expected = rotate_grid(y, g, "1x0 + 1x1")
        assert relative_error([expected], [out[i : i + 1]]) <= 1e-5, i
    collapsed = keras_se3.collapse(model)
    assert_stock_only(collapsed)
    assert relative_error([y], [to_numpy(collapsed(x))]) <= 1e-5
    model.save(tmp_path / "u.keras")
    loaded = keras.saving.load_model(tmp_path / "u.keras")
    np.testing.assert_allclose(to_numpy(loaded(x)), y, rtol=0, atol=1e-6)
