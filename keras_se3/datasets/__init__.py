"""TFDS datasets: ``tetris``, ``cath``, ``shrec17`` (the paper's), ``tetris_scenes``
and ``protein_sse``.

Importing this package registers the five TensorFlow Datasets builders, so that::

    import tensorflow_datasets as tfds
    import keras_se3.datasets  # noqa: F401  (registers the builders)

    tfds.load("tetris")             # generated, no download
    tfds.load("tetris_scenes")      # generated: per-voxel classes and centroid offsets
    tfds.load("cath/10arch")        # downloads cath_10arch_ca.npz (or manual_dir)
    tfds.load("shrec17/perturbed")  # manual download (see the builder's README)
    tfds.load("protein_sse")        # 50 PDB chains, DSSP labels ("proteins" extra)

It also provides the input pipelines that voxelise the stored coordinates with an
exact random rotation (:func:`cath_pipeline`, :func:`shrec17_pipeline`,
:func:`tetris_pipeline`), and per-element atom densities with the voxels of the
residues for ``protein_sse`` (:func:`protein_sse_pipeline`).  Needs the ``data`` extra:
``pip install "keras-se3[data]"`` (tensorflow-datasets and trimesh).

The builders' sources live in the repository's top-level ``datasets/<name>/``
folders (the ``tfds new`` layout, so ``tfds build datasets/tetris`` works there);
``setup.py`` installs them as ``keras_se3.datasets.<name>``.  Nothing installs a
top-level package called ``datasets``.
"""

import pathlib as _pathlib

try:
    import tensorflow_datasets as _tfds  # noqa: F401
except ImportError as _err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "keras_se3.datasets needs tensorflow-datasets (and trimesh for SHREC17): "
        'pip install "keras-se3[data]"'
    ) from _err

# A source checkout that is not installed (e.g. pytest from the repository root):
# find the builder folders next to the package, where setup.py maps them from.
_SOURCE_ROOT = _pathlib.Path(__file__).resolve().parents[2]
_SOURCE_DATASETS = _SOURCE_ROOT / "datasets"
if (
    (_SOURCE_ROOT / "setup.py").is_file()
    and (_SOURCE_DATASETS / "tetris" / "tetris_dataset_builder.py").is_file()
    and str(_SOURCE_DATASETS) not in __path__
):
    __path__.append(str(_SOURCE_DATASETS))

# Registration happens on import of the builder modules (TFDS's metaclass).
from keras_se3.datasets.cath import cath_dataset_builder  # noqa: E402
from keras_se3.datasets.pipelines import (  # noqa: E402
    cath_pipeline,
    shrec17_pipeline,
    tetris_pipeline,
    voxel_pipeline,
)
from keras_se3.datasets.protein_pipeline import protein_sse_pipeline  # noqa: E402
from keras_se3.datasets.protein_sse import protein_sse_dataset_builder  # noqa: E402
from keras_se3.datasets.shrec17 import shrec17_dataset_builder  # noqa: E402
from keras_se3.datasets.tetris import tetris_dataset_builder  # noqa: E402
from keras_se3.datasets.tetris_scenes import (  # noqa: E402
    tetris_scenes_dataset_builder,
)

Tetris = tetris_dataset_builder.Builder
TetrisScenes = tetris_scenes_dataset_builder.Builder
Cath = cath_dataset_builder.Builder
Shrec17 = shrec17_dataset_builder.Builder
ProteinSse = protein_sse_dataset_builder.Builder

__all__ = [
    "Cath",
    "ProteinSse",
    "Shrec17",
    "Tetris",
    "TetrisScenes",
    "cath_pipeline",
    "protein_sse_pipeline",
    "shrec17_pipeline",
    "tetris_pipeline",
    "voxel_pipeline",
]
