"""tetris_scenes dataset tests (tfds.testing), on a tiny config to stay fast."""

import tensorflow_datasets as tfds
from keras_se3.datasets.tetris_scenes import tetris_scenes_dataset_builder

# 13^3 grid, 1-voxel cubes, 2-3 pieces: 3 train scenes, 2 test scenes (rotated and
# canonical).
TINY = tetris_scenes_dataset_builder.TetrisScenesConfig(
    name="tiny",
    grid_size=13,
    block_size=1,
    max_pieces=3,
    num_train=3,
    num_test=2,
)


class TetrisScenesTest(tfds.testing.DatasetBuilderTestCase):
    """Tests for the tetris_scenes dataset."""

    DATASET_CLASS = tetris_scenes_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = [TINY]
    # `test` and `test_canonical` share their scenes' pieces and centres, but
    # the rotated pieces make every example differ: no split overlaps.
    SPLITS = {"train": 3, "test": 2, "test_canonical": 2}


if __name__ == "__main__":
    tfds.testing.test_main()
