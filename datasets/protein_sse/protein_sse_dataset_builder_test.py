"""protein_sse dataset tests (tfds.testing) on the installed MDAnalysisTests files."""

import tensorflow_datasets as tfds
from keras_se3.datasets.protein_sse import protein_sse_dataset_builder


class ProteinSseTest(tfds.testing.DatasetBuilderTestCase):
    """Builds every split from the real chains (50 files, under a second)."""

    DATASET_CLASS = protein_sse_dataset_builder.Builder
    SPLITS = {"train": 34, "validation": 8, "test": 8}


if __name__ == "__main__":
    tfds.testing.test_main()
