"""tetris dataset: the 3D Tetris pieces of Weiler et al. (2018), section 5.1."""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from keras_se3.datasets.tetris_pieces import TETRIS_NAMES, tetris_voxels
from keras_se3.so3 import cube_rotations, random_rotation
from keras_se3.transforms import resample_grid


@dataclasses.dataclass
class TetrisConfig(tfds.core.BuilderConfig):
    """How the pieces are voxelised and how many rotated copies are generated.

    Attributes:
        grid_size: voxels per axis of the cubic grid.
        block_size: voxels per edge of each of a piece's 4 cubes.
        supersampling: sub-voxel samples per axis when voxelising a rotated piece.
        num_test_rotations: Haar-random rotations per piece in the ``test`` split.
        seed: seed of those rotations (fixed: the test set is reproducible).
        style: ``"centred"`` (equal cubes, centred piece), ``"box"`` (equal
            cubes, the 4^3 box centred, as the paper's code places its pieces)
            or ``"paper_code"`` (the pieces as the paper's code makes them:
            unequal cubes, the box centred; see
            :func:`keras_se3.datasets.tetris_pieces.tetris_voxels`).
    """

    grid_size: int = 37
    block_size: int = 5
    supersampling: int = 3
    num_test_rotations: int = 100
    seed: int = 0
    style: str = "centred"


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for the tetris dataset (generated, nothing to download)."""

    VERSION = tfds.core.Version("3.2.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release (36^3 and 16^3 grids).",
        "2.0.0": "Odd grids, 37^3 and 17^3: the paper's nets are exactly invariant "
        "to the 24 cube rotations only when the grid has a centre voxel and "
        "(n - 1) is divisible by the total stride 4.",
        "3.0.0": "`test` follows the paper's code: the canonical grid rotated by "
        "cubic-spline resampling.  2.0.0's `test` (the rotated geometry voxelised "
        "again) is now `test_revoxelized`.",
        "3.1.0": "New configs `paper_code` (20^3, the pieces as the paper's code "
        "makes them: unequal cubes, box centred) and `paper_code_equal_cubes` "
        "(the same placement, equal cubes).  Other configs unchanged.",
        "3.2.0": "New config `coarse` (13^3, 2-voxel cubes: the coarsest grid of "
        "the curve of accuracy against cube size).  Other configs unchanged.",
    }
    BUILDER_CONFIGS = [
        TetrisConfig(
            name="default",
            description="37^3 grid, each cube a 5^3 block (the paper's 36^3 + 1).",
        ),
        TetrisConfig(
            name="small",
            description="17^3 grid, each cube a 3^3 block (quick experiments).",
            grid_size=17,
            block_size=3,
        ),
        TetrisConfig(
            name="coarse",
            description="13^3 grid, each cube a 2^3 block (the coarsest: how "
            "far down the grid the rotation invariance holds).",
            grid_size=13,
            block_size=2,
        ),
        TetrisConfig(
            name="paper_code",
            description="20^3 grid, the pieces as the paper's code makes them "
            "(scipy zoom of the 4^3 box to 12 voxels: cubes 2, 4, 4, 2 voxels "
            "wide, 48 to 96 voxels per piece; the box centred, padded by 4).",
            grid_size=20,
            block_size=3,
            style="paper_code",
        ),
        TetrisConfig(
            name="paper_code_equal_cubes",
            description="20^3 grid, placed as the paper's code places its pieces "
            "(the 12-voxel box centred) but with equal 3-voxel cubes, as the paper "
            "describes them: 108 voxels each.",
            grid_size=20,
            block_size=3,
            style="box",
        ),
    ]
    DEFAULT_CONFIG_NAME = "default"
    # Metadata (README.md, CITATIONS.bib, TAGS.txt, checksums.tsv, dummy_data/) sits
    # next to this file. TFDS would look for it under the top-level package's
    # resources, which is another folder in a source checkout (see setup.py).
    pkg_dir_path = epath.Path(__file__).parent

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        return epath.Path(__file__)

    def _info(self) -> tfds.core.DatasetInfo:
        n = self.builder_config.grid_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "voxels": tfds.features.Tensor(
                        shape=(n, n, n, 1),
                        dtype=np.float32,
                        encoding=tfds.features.Encoding.ZLIB,
                    ),
                    "label": tfds.features.ClassLabel(names=TETRIS_NAMES),
                    "rotation": tfds.features.Tensor(shape=(3, 3), dtype=np.float32),
                }
            ),
            supervised_keys=("voxels", "label"),
            homepage="https://arxiv.org/abs/1807.02547",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Generated: nothing to download.
        config = self.builder_config
        haar = random_rotation(
            len(TETRIS_NAMES) * config.num_test_rotations, seed=config.seed
        ).reshape(len(TETRIS_NAMES), config.num_test_rotations, 3, 3)
        identity = np.eye(3)[None]
        return {
            "train": self._generate_examples(
                np.repeat(identity[None], len(TETRIS_NAMES), axis=0)
            ),
            "test": self._generate_examples(haar, resample=True),
            "test_revoxelized": self._generate_examples(haar),
            "test_rot90": self._generate_examples(
                np.repeat(cube_rotations()[None], len(TETRIS_NAMES), axis=0)
            ),
        }

    def _generate_examples(self, rotations, resample=False):
        """Yields the pieces rotated by ``rotations[piece_index, copy]``.

        With ``resample`` the canonical grid is rotated by cubic-spline
        interpolation (the paper's code: ``scipy.ndimage.affine_transform``,
        order 3, about the grid centre); otherwise the piece's geometry is
        rotated and voxelised again.
        """
        config = self.builder_config
        sizes = dict(
            grid_size=config.grid_size,
            block_size=config.block_size,
            style=config.style,
        )
        for label, piece in enumerate(TETRIS_NAMES):
            canonical = tetris_voxels(piece, None, **sizes)[None, ..., None]
            for copy, rotation in enumerate(rotations[label]):
                if resample:
                    voxels = resample_grid(canonical, rotation, order=3)[0, ..., 0]
                else:
                    voxels = tetris_voxels(
                        piece, rotation, supersampling=config.supersampling, **sizes
                    )
                yield (
                    f"{piece}_{copy}",
                    {
                        "voxels": voxels[..., None].astype(np.float32),
                        "label": label,
                        "rotation": rotation.astype(np.float32),
                    },
                )
