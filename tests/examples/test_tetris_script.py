"""End-to-end run of examples/tetris.py (the script `make demo` runs).

The `coarse` Tetris config (13^3; `make demo` runs `small`, 17^3, through the same
code) is generated into a temporary data_dir, both nets
train for one step, and the steerable one is exported to ONNX and checked in
onnxruntime; the figures are written.  Accuracies after one step mean nothing:
the test checks that the table, the export check and the plots are produced.
It tests on 8 pieces per rotated split (`--test-pieces`): evaluating all 1,808
made it the slowest test (1,085 s in a suite run on a slow machine; 190 s with 24,
87 s with 24 pieces and 3 steps on AVX-512; 46 s with 8 pieces, 37 s on the coarse
grid).  Its time is now mostly fixed costs: generating the dataset, tracing each
net, the export, the plots.
"""

import re

import numpy as np
import pytest

from keras_se3.basis import get_basis_config

from .scripts import load_example, run_script

#: Third-party start-up noise that examples/startup.py keeps out of the output.
NOISE = (
    "cuInit",
    "oneDNN custom operations",
    "Could not find cuda drivers",
    "absl::InitializeLog",
    "FeatureConnector.dtype",
    "`shuffle=True` was passed",
    "np.object",
    "has no dataset_info.json",
)


@pytest.mark.slow
def test_tetris_script_trains_exports_and_plots(tmp_path):
    out = tmp_path / "out"
    result, log = run_script(
        "tetris.py",
        "--config", "coarse", "--data-dir", tmp_path / "tfds",
        "--steps", 1, "--seeds", 1, "--test-pieces", 8, "--verbose", 2,
        "--export", out, "--plots", out,
    )  # fmt: skip
    assert result.returncode == 0, log
    rows = re.findall(
        r"^\| (steerable, default basis|CNN, same channels) \|", result.stdout, re.M
    )
    assert rows == ["steerable, default basis", "CNN, same channels"], log
    header = (
        "| model | random rotations, resampled (%) | random rotations, "
        "re-voxelised (%) | 24 cube rotations (%) | train (%) |"
    )
    assert header in result.stdout.splitlines(), log
    assert "test pieces per split: test 8, test_revoxelized 8, test_rot90 8" in (
        result.stdout
    ), log
    error = re.search(r"relative error (\S+), same class for (\S+) %", result.stdout)
    assert error and float(error.group(1)) < 1e-4, log
    files = {
        "tetris.keras": "the trained steerable net",
        "tetris.onnx": "the same net collapsed to stock layers, as ONNX",
        "equivariance_steerable.png": "steerable, default basis: logit error",
        "equivariance_cnn.png": "CNN, same channels: logit error",
        "piece_slice.png": "a slice through a rotated test piece",
    }
    for name in files:
        path = out / name
        assert path.is_file() and path.stat().st_size > 1000, f"{name}\n{log}"
    # The last lines: the results in words, then every file and what it is.
    summary = result.stdout.split("=" * 30 + " summary " + "=" * 30)[-1]
    assert re.search(
        r"^steerable, default basis: \d+\.\d % of the randomly", summary, re.M
    )
    assert re.search(r"^CNN, same channels: \d+\.\d % of the randomly", summary, re.M)
    for name, what in files.items():
        assert re.search(rf"^  {re.escape(str(out / name))} +{what}", summary, re.M), (
            f"{name}\n{log}"
        )
    for noise in NOISE:
        assert noise not in result.stderr and noise not in result.stdout, (
            f"{noise!r} in the output\n{log}"
        )
    assert "Traceback" not in result.stderr, log


def test_se3cnn_recipe_options():
    # se3cnn's recipe: lr constant for 100 steps, then x0.98 per step, and the
    # init scale in the basis ("scaled_basis") of every steerable convolution.
    script = load_example("tetris")
    args = script.parse_args(
        "--schedule se3cnn --learning-rate 0.1 --no-batch-norm "
        "--parametrization scaled_basis --padding 4".split()
    )
    schedule = script.learning_rate(args)
    rates = [float(schedule(step)) for step in (0, 100, 101, 150)]
    expected = [0.1, 0.1, 0.1 * 0.98, 0.1 * 0.98**50]
    assert rates == [pytest.approx(r, rel=1e-5) for r in expected]
    model = script.VARIANTS["steerable"][1](args)
    convs = [layer.conv for layer in model.layers if hasattr(layer, "conv")]
    assert len(convs) == 4
    assert {conv.parametrization for conv in convs} == {"scaled_basis"}
    assert {conv.padding for conv in convs} == {(4, 4, 4)}
    assert not any(layer.batch_norm for layer in model.layers if hasattr(layer, "conv"))


def test_test_pieces_is_a_fixed_subset_of_each_split():
    script = load_example("tetris")
    x, y = np.arange(100).reshape(50, 2), np.arange(50)
    first = script.fixed_subset((x, y), 8)
    assert np.array_equal(first[0], script.fixed_subset((x, y), 8)[0])
    assert len(first[1]) == len(set(first[1])) == 8
    assert np.array_equal(first[0][:, 0] // 2, first[1])  # x and y stay paired
    assert script.fixed_subset((x, y), 80)[0] is x
    with pytest.raises(SystemExit):
        script.parse_args(["--test-pieces", "0"])


def test_padding_option_rejects_what_is_not_a_padding(capsys):
    script = load_example("tetris")
    assert script.parse_args([]).padding == "same"
    with pytest.raises(SystemExit):
        script.parse_args(["--padding", "full"])
    assert "expected 'same' or a number of voxels" in capsys.readouterr().err


def test_paper_code_recipe_is_the_paper_codes_network_and_protocol():
    from keras_se3.layers.low_pass import paper_sigma
    from keras_se3.models import PAPER_CODE_OPTIONS

    script = load_example("tetris")
    args = script.parse_args(["--recipe", "paper-code"])
    assert (args.schedule, args.learning_rate) == ("se3cnn", 0.1)
    assert args.train_orientation == "random"
    model = script.VARIANTS["steerable"][1](args)
    blocks = [layer for layer in model.layers if hasattr(layer, "conv")]
    assert {b.conv.parametrization for b in blocks} == {
        PAPER_CODE_OPTIONS["parametrization"]
    }
    assert {b.conv.padding for b in blocks} == {(4, 4, 4)}
    assert not any(b.batch_norm for b in blocks)
    assert model.get_layer("input_blur").sigma == pytest.approx(paper_sigma(2))
    assert {b.conv.basis for b in blocks} == {get_basis_config("paper")}
    # An explicit option still wins over the recipe's default.
    args = script.parse_args(
        ["--recipe", "paper-code", "--padding", "same", "--basis", "default"]
    )
    assert args.padding == "same" and args.schedule == "se3cnn"
    assert args.basis == "default"


def test_basis_option_and_the_other_basis_row():
    script = load_example("tetris")
    args = script.parse_args([])
    assert args.basis == "default"
    assert script.variant_label("steerable", args) == "steerable, default basis"
    assert script.variant_label("other-basis", args) == "steerable, paper basis"
    args = script.parse_args(["--basis", "paper", "--ablation"])
    assert script.variant_label("strided", args) == (
        "steerable, paper basis, no low-pass (strided)"
    )
    model = script.VARIANTS["other-basis"][1](args)
    convs = [layer.conv for layer in model.layers if hasattr(layer, "conv")]
    assert {conv.basis for conv in convs} == {get_basis_config("default")}
    # The old flag still gives the old table: paper-basis nets, a default-basis row.
    args = script.parse_args(["--default-basis", "--ablation"])
    assert (args.basis, args.compare_basis) == ("paper", True)
    assert script.parse_args([]).train_orientation == "canonical"


def test_random_training_orientation_resamples_each_piece_per_seed():
    from keras_se3.datasets.tetris_pieces import TETRIS_NAMES, tetris_voxels
    from keras_se3.so3 import random_rotation
    from keras_se3.transforms import resample_grid

    script = load_example("tetris")
    x = np.stack([tetris_voxels(p, grid_size=9, block_size=1) for p in TETRIS_NAMES])
    x, y = x[..., None], np.arange(8)
    assert script.training_pieces((x, y), "canonical", 0)[0] is x
    rotated, labels = script.training_pieces((x, y), "random", 3)
    assert rotated.shape == x.shape and rotated.dtype == x.dtype
    assert np.array_equal(labels, y)
    rotation = random_rotation(8, seed=3)[5]
    expected = resample_grid(x[5][None], rotation)[0]
    np.testing.assert_allclose(rotated[5], expected, atol=1e-6)
    assert not np.allclose(rotated, x, atol=0.1)
    other, _ = script.training_pieces((x, y), "random", 4)
    assert not np.allclose(other, rotated, atol=0.1)


def test_augmentation_options_and_the_rotation_augmented_cnn_row():
    script = load_example("tetris")
    args = script.parse_args([])
    assert args.augment == "shift" and not args.cnn_rotate  # the default recipe
    assert script.parse_args(["--recipe", "paper-code"]).augment == "none"
    args = script.parse_args(["--cnn-rotate", "--augment", "none"])
    assert args.cnn_rotate and args.augment == "none"
    # The rotation-augmented CNN row trains on rotated pieces whatever --augment says.
    assert script.VARIANT_AUGMENT["cnn-rotate"] == "rotate"
    assert "rotation augmentation" in script.variant_label("cnn-rotate", args)
    model = script.VARIANTS["cnn-rotate"][1](args)
    assert model.name == "tetris_cnn"
    with pytest.raises(SystemExit, match="--augment none"):
        script.main(["--train-orientation", "random", "--steps", "1"])
