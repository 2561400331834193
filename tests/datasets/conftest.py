import pathlib

import pytest

# Installed by the test extra: a missing TFDS must fail the suite, not skip it.
import tensorflow_datasets as tfds

import keras_se3.datasets  # noqa: F401  (registers the builders)


def dummy_dir(name):
    """The builder's dummy_data/ folder (next to its module, wherever installed)."""
    module = {
        "tetris": keras_se3.datasets.tetris_dataset_builder,
        "cath": keras_se3.datasets.cath_dataset_builder,
        "shrec17": keras_se3.datasets.shrec17_dataset_builder,
    }[name]
    return pathlib.Path(module.__file__).parent / "dummy_data"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """A TFDS data_dir with cath/10arch and shrec17/normal built from dummy data."""
    root = tmp_path_factory.mktemp("tfds")
    for name, manual in (("cath/10arch", "cath"), ("shrec17/normal", "shrec17")):
        tfds.builder(name, data_dir=root).download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=dummy_dir(manual))
        )
    return root
