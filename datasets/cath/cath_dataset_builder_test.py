"""cath dataset tests (tfds.testing): the dummy npz files, found in manual_dir."""

import tensorflow_datasets as tfds
from keras_se3.datasets.cath import cath_dataset_builder


class CathTest(tfds.testing.DatasetBuilderTestCase):
    """Tests for the cath dataset (all three configs)."""

    DATASET_CLASS = cath_dataset_builder.Builder
    # dummy_data/cath_*_ca.npz: 20 proteins, 2 per split.
    SPLITS = {"train": 14, "validation": 2, "test": 4}


if __name__ == "__main__":
    tfds.testing.test_main()
