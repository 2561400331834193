"""shrec17 dataset tests (tfds.testing): hand-written meshes in zips, in manual_dir."""

import tensorflow_datasets as tfds
from keras_se3.datasets.shrec17 import shrec17_dataset_builder


class Shrec17Test(tfds.testing.DatasetBuilderTestCase):
    """Tests for the shrec17 dataset (both configs)."""

    DATASET_CLASS = shrec17_dataset_builder.Builder
    # dummy_data/: {train,val,test}{,_perturbed}.zip with 3, 2 and 2 meshes.
    SPLITS = {"train": 3, "validation": 2, "test": 2}


if __name__ == "__main__":
    tfds.testing.test_main()
