"""Runs the builders' tfds.testing suites (the *_dataset_builder_test.py files)."""

from keras_se3.datasets.cath.cath_dataset_builder_test import CathTest  # noqa: F401
from keras_se3.datasets.protein_sse.protein_sse_dataset_builder_test import (  # noqa: F401
    ProteinSseTest,
)
from keras_se3.datasets.shrec17.shrec17_dataset_builder_test import (  # noqa: F401
    Shrec17Test,
)
from keras_se3.datasets.tetris.tetris_dataset_builder_test import (  # noqa: F401
    TetrisTest,
)
from keras_se3.datasets.tetris_scenes.tetris_scenes_dataset_builder_test import (  # noqa: F401
    TetrisScenesTest,
)
