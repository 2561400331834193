import keras
import numpy as np
import pytest

from keras_se3 import FieldType, SE3GatedConv3D, SE3ResidualBlock, so3
from keras_se3.transforms import rotate_grid
from tests.backend import to_numpy


def _relative(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def _input(field_type, size, batch=2, seed=0):
    dim = FieldType(field_type).dim
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, size, size, size, dim)).astype("float32")


@pytest.mark.parametrize("downsampling", ["gaussian", "strided"])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_gated_conv_exact_equivariance(downsampling, batch_norm):
    in_type, out_type = "1x0 + 1x1", "2x0 + 1x1 + 1x2"
    block = SE3GatedConv3D(
        out_type,
        3,
        in_fields=in_type,
        strides=2,
        downsampling=downsampling,
        batch_norm=batch_norm,
        dropout=0.3,
    )
    x = _input(in_type, 9)
    y = to_numpy(block(x, training=False))
    assert y.shape == (2, 5, 5, 5, FieldType(out_type).dim)
    for rotation in so3.cube_rotations():
        y_rot = to_numpy(block(rotate_grid(x, rotation, in_type), training=False))
        assert _relative(y_rot, rotate_grid(y, rotation, out_type)) <= 1e-5


def test_gated_conv_parameters_sit_in_the_gate():
    block = SE3GatedConv3D("2x0 + 1x1 + 1x2", 3, in_fields="1x0", batch_norm=True)
    block.build((None, 5, 5, 5, 1))
    names = sorted(w.path.split("/")[-1] for w in block.trainable_weights)
    # Biases: 2 scalars and 2 gates, in the gate; the conv and the norm have none.
    assert block.gate.bias.shape == (2,) and block.gate.gate_bias.shape == (2,)
    assert block.conv.bias is None
    assert all("norm" not in w.path for w in block.trainable_weights), names


def test_residual_block_identity_and_projection_shortcuts():
    same = SE3ResidualBlock("2x0 + 1x1", 3, in_fields="2x0 + 1x1")
    same.build((None, 7, 7, 7, 5))
    assert same.shortcut is None
    changed = SE3ResidualBlock("2x0 + 1x1", 3, in_fields="1x0", out_fields="4x0")
    changed.build((None, 7, 7, 7, 1))
    assert changed.shortcut is not None and changed.shortcut.bias is None


def test_residual_block_options_reach_every_stage_and_its_config():
    block = SE3ResidualBlock(
        "2x0 + 1x1", 3, in_fields="1x0", out_fields="4x0", strides=2,
        lowpass_sigma=1.1, gate_activation="tanh", dropout=0.25, use_bias=False,
        kernel_regularizer=keras.regularizers.L2(1e-3),
        kernel_constraint=keras.constraints.MaxNorm(2.0),
    )  # fmt: skip
    block.build((None, 9, 9, 9, 1))
    convs = [block.gated.conv, block.conv, block.shortcut]
    assert all(c.kernel_regularizer is not None for c in convs)
    assert all(c.coefficients.constraint is not None for c in convs)
    # One penalty per convolution's coefficients: all three can be regularised.
    block(_input("1x0", 9), training=True)
    assert len(block.losses) == 3
    assert block.shortcut_blur.sigma == block.gated.down.sigma == 1.1
    gated = block.gated.get_config()
    assert gated["gate_activation"] == "tanh" and gated["dropout"] == 0.25
    assert gated["use_bias"] is False
    clone = SE3ResidualBlock.from_config(block.get_config())
    assert clone.get_config() == block.get_config()
    clone.build((None, 9, 9, 9, 1))
    assert len(clone.weights) == len(block.weights)


@pytest.mark.parametrize("strides, out_fields", [(1, None), (2, "3x0 + 1x2")])
def test_residual_block_exact_equivariance(strides, out_fields):
    in_type = "1x0 + 1x1"
    block = SE3ResidualBlock(
        "2x0 + 1x1",
        3,
        in_fields=in_type,
        out_fields=out_fields,
        strides=strides,
        batch_norm=True,
    )
    out_type = out_fields or "2x0 + 1x1"
    x = _input(in_type, 9)
    block(x, training=True)  # moving statistics become non-trivial
    y = to_numpy(block(x, training=False))
    for rotation in so3.cube_rotations()[::3]:
        y_rot = to_numpy(block(rotate_grid(x, rotation, in_type), training=False))
        assert _relative(y_rot, rotate_grid(y, rotation, out_type)) <= 1e-5


def test_blocks_save_and_reload_with_batch_norm_statistics(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((9, 9, 9, 1))
    h = SE3GatedConv3D("2x0 + 1x1", 3, batch_norm=True, strides=2)(inputs)
    outputs = SE3ResidualBlock(
        "2x0 + 1x1", 3, in_fields="2x0 + 1x1", out_fields="1x0", batch_norm=True
    )(h)
    model = keras.Model(inputs, outputs)
    x = _input("1x0", 9)
    for _ in range(3):
        model(x, training=True)
    path = tmp_path / "blocks.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(
        to_numpy(reloaded(x, training=False)), to_numpy(model(x, training=False))
    )


def test_block_errors():
    with pytest.raises(ValueError, match="strides"):
        SE3GatedConv3D("1x0", 3, strides=(2, 2, 2))
    with pytest.raises(ValueError, match="downsampling"):
        SE3GatedConv3D("1x0", 3, strides=2, downsampling="max")
    with pytest.raises(ValueError, match="dropout"):
        SE3GatedConv3D("1x0", 3, dropout=1.0)
    block = SE3GatedConv3D("1x1", 3, in_fields="2x0")
    with pytest.raises(ValueError, match="'2x0'"):
        block(np.zeros((1, 5, 5, 5, 3), "float32"))


def test_gated_conv_low_passes_after_the_gate():
    """The paper's order: convolution at stride 1, gate, low-pass, subsampling."""
    from keras_se3 import Gate, LowPassDownsampling3D, SE3Conv3D

    keras.utils.set_random_seed(0)
    block = SE3GatedConv3D("1x0 + 1x1", 5, in_fields="1x0 + 1x1", strides=2)
    x = _input("1x0 + 1x1", 21, batch=1)
    y = to_numpy(block(x))
    conv = SE3Conv3D(block.gate.input_fields, 5, in_fields="1x0 + 1x1", use_bias=False)
    conv.build(x.shape)
    conv.set_weights(block.conv.get_weights())
    gate = Gate("1x0 + 1x1")
    gate.build(conv.compute_output_shape(x.shape))
    gate.set_weights(block.gate.get_weights())
    expected = to_numpy(LowPassDownsampling3D(2)(gate(conv(x))))
    assert y.shape == expected.shape == (1, 11, 11, 11, 4)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_gated_conv_lowpass_sigma(tmp_path):
    block = SE3GatedConv3D("1x0 + 1x1", 5, strides=2, lowpass_sigma=1.2)
    x = _input("1x0", 9, batch=1)
    y = to_numpy(block(x))
    assert len(block.down.blur_kernel_1d()) == 7  # the paper's 0.87 has 5 taps
    for rotation in so3.cube_rotations()[:6]:
        y_rot = to_numpy(block(rotate_grid(x, rotation)))
        assert _relative(y_rot, rotate_grid(y, rotation, "1x0 + 1x1")) <= 1e-5
    inputs = keras.Input((9, 9, 9, 1))
    model = keras.Model(inputs, block(inputs))
    model.save(tmp_path / "block.keras")
    reloaded = keras.saving.load_model(tmp_path / "block.keras")
    assert reloaded.layers[-1].lowpass_sigma == 1.2
    np.testing.assert_array_equal(to_numpy(reloaded(x)), y)
    with pytest.raises(ValueError, match="lowpass_sigma"):
        SE3GatedConv3D("1x0", 3, strides=2, downsampling="average", lowpass_sigma=1.0)


def test_residual_shortcut_blur_then_strided_conv_equals_conv_then_low_pass():
    """The linear shortcut downsamples the cheap way: the same map in the interior."""
    from keras_se3 import LowPassDownsampling3D, SE3Conv3D

    keras.utils.set_random_seed(0)
    block = SE3ResidualBlock(
        "1x0 + 1x1", 5, in_fields="1x0 + 1x1", out_fields="2x0", strides=2
    )
    x = _input("1x0 + 1x1", 21, batch=1)
    block(x)
    fast = to_numpy(block.shortcut(block.shortcut_blur(x)))
    stride_one = SE3Conv3D("2x0", 5, in_fields="1x0 + 1x1", use_bias=False)
    stride_one.build(x.shape)
    stride_one.set_weights(block.shortcut.get_weights())
    paper = to_numpy(LowPassDownsampling3D(2)(stride_one(x)))
    assert fast.shape == paper.shape == (1, 11, 11, 11, 2)
    # Equal away from the border, where the zero padding enters in different places.
    inner = (slice(None), slice(3, -3), slice(3, -3), slice(3, -3))
    np.testing.assert_allclose(fast[inner], paper[inner], rtol=1e-4, atol=1e-5)


def test_blocks_pass_synchronized_batch_norm_to_their_norms():
    if keras.backend.backend() != "tensorflow":
        with pytest.raises(ValueError, match="only supported with the TensorFlow"):
            SE3GatedConv3D("1x0", 3, batch_norm=True, synchronized_batch_norm=True)
        return
    gated = SE3GatedConv3D(
        "2x0 + 1x1", 3, batch_norm=True, synchronized_batch_norm=True
    )
    block = SE3ResidualBlock(
        "2x0 + 1x1",
        3,
        in_fields="1x0",
        batch_norm=True,
        synchronized_batch_norm=True,
    )
    block.build((None, 9, 9, 9, 1))
    norms = [gated.norm, block.gated.norm, block.norm, block.shortcut_norm]
    assert all(norm.synchronized for norm in norms)
    for layer in (gated, block):
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config()["synchronized_batch_norm"] is True
    assert not SE3GatedConv3D("1x0", 3, batch_norm=True).norm.synchronized


def test_blocks_pass_parametrization_to_every_convolution():
    gated = SE3GatedConv3D("2x0 + 1x1", 3, parametrization="scaled_basis")
    block = SE3ResidualBlock(
        "2x0 + 1x1", 3, in_fields="1x0", parametrization="scaled_basis"
    )
    block.build((None, 9, 9, 9, 1))
    convs = [gated.conv, block.gated.conv, block.conv, block.shortcut]
    assert {conv.parametrization for conv in convs} == {"scaled_basis"}
    for layer in (gated, block):
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config()["parametrization"] == "scaled_basis"
    assert SE3GatedConv3D("1x0", 3).conv.parametrization == "unit_basis"


def test_residual_block_fields_keyword_is_deprecated_and_old_configs_load():
    import warnings

    new = SE3ResidualBlock("2x0 + 1x1", 3, in_fields="1x0")
    with pytest.warns(DeprecationWarning, match="hidden_fields"):
        old = SE3ResidualBlock(fields="2x0 + 1x1", kernel_size=3, in_fields="1x0")
    assert old.hidden_fields == new.hidden_fields == old.fields
    config = new.get_config()
    assert config["hidden_fields"] == "2x0 + 1x1" and "fields" not in config
    # A config written before the rename ("fields") loads silently, same layer.
    config["fields"] = config.pop("hidden_fields")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        loaded = SE3ResidualBlock.from_config(config)
    assert loaded.hidden_fields == new.hidden_fields
    assert loaded.get_config() == new.get_config()
    with pytest.raises(ValueError, match="once"):
        SE3ResidualBlock("2x0", 3, fields="2x0")
    with pytest.raises(TypeError, match="hidden_fields"):
        SE3ResidualBlock(kernel_size=3)


@pytest.mark.parametrize("downsampling", ["gaussian", "strided"])
def test_o3_gated_conv_exact_under_the_48_cube_symmetries(downsampling):
    # (Pseudo-scalars come from pseudo-vectors: 1e -> 0o through J = 1.)
    in_type, out_type = "1x0e + 1x1o + 1x1e", "2x0e + 1x0o + 1x1o + 1x1e + 1x2e"
    block = SE3GatedConv3D(
        out_type,
        3,
        in_fields=in_type,
        strides=2,
        downsampling=downsampling,
        batch_norm=True,
        dropout=0.3,
    )
    x = _input(in_type, 9)
    block(x, training=True)
    y = to_numpy(block(x, training=False))
    assert block.conv.out_fields == "2x0e + 1x0o + 1x1o + 1x1e + 1x2e + 3x0e"
    for g in so3.cube_symmetries():
        y_g = to_numpy(block(rotate_grid(x, g, in_type), training=False))
        assert _relative(y_g, rotate_grid(y, g, out_type)) <= 1e-5


def test_o3_residual_block_exact_under_the_48_cube_symmetries(tmp_path):
    in_type, out_type = "1x0e + 1x1e", "1x0o + 1x1e + 1x0e"
    block = SE3ResidualBlock(
        "2x0e + 1x0o + 1x1o + 1x1e",
        3,
        in_fields=in_type,
        out_fields=out_type,
        strides=2,
        batch_norm=True,
        odd_activation="softsign",
    )
    x = _input(in_type, 9)
    block(x, training=True)
    y = to_numpy(block(x, training=False))
    for g in so3.cube_symmetries()[::2]:
        y_g = to_numpy(block(rotate_grid(x, g, in_type), training=False))
        assert _relative(y_g, rotate_grid(y, g, out_type)) <= 1e-5
    # Saved and loaded with its odd activation and parities.
    inputs = keras.Input((9, 9, 9, 4))
    model = keras.Model(inputs, block(inputs))
    model.save(tmp_path / "o3_block.keras")
    loaded = keras.saving.load_model(tmp_path / "o3_block.keras")
    np.testing.assert_allclose(to_numpy(loaded(x)), y, rtol=1e-6, atol=1e-6)
    inner = loaded.layers[-1]
    assert inner.out_fields == out_type
    assert inner.gated.gate.odd_activation.__name__ == "softsign"
