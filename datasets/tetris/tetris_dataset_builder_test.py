"""tetris dataset tests (tfds.testing), on a tiny config to stay fast."""

import tensorflow_datasets as tfds
from keras_se3.datasets.tetris import tetris_dataset_builder

# 8^3 grid, 1-voxel cubes, 2 random rotations per piece: 8 + 16 + 16 + 192 examples.
TINY = tetris_dataset_builder.TetrisConfig(
    name="tiny", grid_size=8, block_size=1, num_test_rotations=2
)
# The paper code's pieces (unequal cubes) on a 10^3 grid.
TINY_PAPER_CODE = tetris_dataset_builder.TetrisConfig(
    name="tiny_paper_code",
    grid_size=10,
    block_size=2,
    num_test_rotations=2,
    style="paper_code",
)


class TetrisTest(tfds.testing.DatasetBuilderTestCase):
    """Tests for the tetris dataset."""

    DATASET_CLASS = tetris_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = [TINY, TINY_PAPER_CODE]
    SPLITS = {"train": 8, "test": 16, "test_revoxelized": 16, "test_rot90": 192}
    # The identity is one of the 24 cube rotations: test_rot90 repeats train.
    OVERLAPPING_SPLITS = ["test_rot90"]


if __name__ == "__main__":
    tfds.testing.test_main()
