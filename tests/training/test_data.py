"""keras_se3.training.data: prepared TFDS datasets; clear errors for missing files."""

import pytest

from keras_se3 import training

from ..datasets.conftest import dummy_dir


def test_prepare_dataset_from_the_manual_dir(tmp_path):
    builder = training.prepare_dataset(
        "cath/10arch",
        data_dir=tmp_path,
        manual_dir=dummy_dir("cath"),
        download=False,
        files=["cath_10arch_ca.npz"],
    )
    assert builder.is_prepared()
    assert builder.info.splits["train"].num_examples == 14
    indices = [
        int(e["domain_index"])
        for e in training.subset(builder.as_dataset(split="train"), 4)
    ]
    every = [int(e["domain_index"]) for e in builder.as_dataset(split="train")]
    assert indices == every[::4] and len(indices) == 4  # examples 0, 4, 8, 12


def test_prepare_dataset_says_what_is_missing_and_where(tmp_path):
    with pytest.raises(training.SetupError) as error:
        training.prepare_dataset(
            "cath/10arch",
            data_dir=tmp_path / "data",
            manual_dir=tmp_path / "manual",
            download=False,
            files=["cath_10arch_ca.npz"],
        )
    message = str(error.value)
    assert f"manual download directory {tmp_path / 'manual'} lacks" in message
    assert "cath_10arch_ca.npz" in message and "github.com/wouterboomsma" in message


def test_a_truncated_manual_file_is_a_setup_error_with_the_fix(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    good = (dummy_dir("cath") / "cath_10arch_ca.npz").read_bytes()
    (manual / "cath_10arch_ca.npz").write_bytes(good[: len(good) // 2])
    with pytest.raises(training.SetupError) as error:
        training.prepare_dataset(
            "cath/10arch",
            data_dir=tmp_path / "data",
            manual_dir=manual,
            download=False,
            files=["cath_10arch_ca.npz"],
        )
    message = str(error.value)
    assert str(manual / "cath_10arch_ca.npz") in message
    assert "truncated" in message and "raw.githubusercontent.com" in message
