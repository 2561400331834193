"""tetris_scenes dataset: 2-4 Tetris pieces per volume, with dense targets.

Each scene holds a few of the 8 pieces of Weiler et al. (2018), section 5.1, at
random non-overlapping positions, voxelised by partial volume.  The targets are
per voxel: a class (background or one of the 8 pieces) and the vector from the
voxel to the centroid of its piece (a ``1o`` field: the instance-centre
regression of bottom-up panoptic segmentation).

Coordinates: a scene's centres, and the offsets, are in voxels along the array
axes (x, y, z) = (axis 0, 1, 2), voxel ``[i, j, k]``'s centre at ``(i, j, k)``.
"""

import dataclasses
import functools

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from keras_se3.datasets.tetris_pieces import (
    TETRIS_NAMES,
    piece_centroid,
    piece_radius,
    tetris_voxels,
)
from keras_se3.so3 import random_rotation

# Class ``c`` of the segmentation: 0 is background, ``c >= 1`` the piece
# ``TETRIS_NAMES[c - 1]``.
SEGMENTATION_NAMES = ("background",) + TETRIS_NAMES
# Added to each piece's bounding radius.  A voxel with partial volume reaches at
# most sqrt(3)/2 = 0.87 voxel beyond the piece, so with 1 voxel on each sphere no
# voxel holds parts of two pieces (the segmentation is never ambiguous), and every
# piece keeps a voxel of background from the grid's faces.
MARGIN = 1.0
# Random centres drawn at once for one piece, and restarts of a whole scene when
# a piece finds no free place among them.
CANDIDATES = 1000
SCENE_TRIES = 100
# Per-split streams of the seed: train's scenes, test's scenes (shared by `test`
# and `test_canonical`), test's rotations.
_TRAIN, _TEST, _ROTATIONS = 0, 1, 2


@dataclasses.dataclass
class TetrisScenesConfig(tfds.core.BuilderConfig):
    """Grid, piece size and counts of the scenes.

    Attributes:
        grid_size: voxels per axis of the cubic grid.
        block_size: voxels per edge of each of a piece's 4 cubes.
        min_pieces: fewest pieces in a scene (distinct pieces, drawn from the 8).
        max_pieces: most pieces in a scene (at most 8); the per-scene arrays
            ``labels``, ``centres`` and ``rotations`` are padded to this length.
        supersampling: sub-voxel samples per axis for the partial volumes.
        num_train: scenes in ``train``.
        num_test: scenes in ``test`` and in ``test_canonical`` (the same scenes).
        seed: seed of the scenes and rotations; each split draws from its own
            stream of it, so the splits are reproducible and differ.
    """

    grid_size: int = 33
    block_size: int = 3
    min_pieces: int = 2
    max_pieces: int = 4
    supersampling: int = 3
    num_train: int = 256
    num_test: int = 64
    seed: int = 0


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for tetris_scenes (generated, nothing to download)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release (33^3 and 25^3 grids)."}
    BUILDER_CONFIGS = [
        TetrisScenesConfig(
            name="default",
            description="33^3 grid, each cube a 3^3 block; 256 train and 64 test "
            "scenes ((33 - 1) is divisible by 4: a 2-level U-Net's strides).",
        ),
        TetrisScenesConfig(
            name="small",
            description="25^3 grid, each cube a 2^3 block; 256 train and 64 test "
            "scenes (quick experiments).",
            grid_size=25,
            block_size=2,
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
        k = self.builder_config.max_pieces
        zlib = tfds.features.Encoding.ZLIB
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "voxels": tfds.features.Tensor(
                        shape=(n, n, n, 1), dtype=np.float32, encoding=zlib
                    ),
                    "segmentation": tfds.features.Tensor(
                        shape=(n, n, n), dtype=np.int32, encoding=zlib
                    ),
                    "centroid_offset": tfds.features.Tensor(
                        shape=(n, n, n, 3), dtype=np.float32, encoding=zlib
                    ),
                    "scene_index": tfds.features.Tensor(shape=(), dtype=np.int32),
                    "num_pieces": tfds.features.Tensor(shape=(), dtype=np.int32),
                    "labels": tfds.features.Tensor(shape=(k,), dtype=np.int32),
                    "centres": tfds.features.Tensor(shape=(k, 3), dtype=np.float32),
                    "rotations": tfds.features.Tensor(
                        shape=(k, 3, 3), dtype=np.float32
                    ),
                }
            ),
            supervised_keys=(
                "voxels",
                {"segmentation": "segmentation", "centroid_offset": "centroid_offset"},
            ),
            # Stored in the order generated, so that `test` and
            # `test_canonical` read in step (and `scene_index` pairs them too).
            disable_shuffling=True,
            homepage="https://arxiv.org/abs/1807.02547",
            metadata=tfds.core.MetadataDict(
                segmentation_names=list(SEGMENTATION_NAMES)
            ),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Generated: nothing to download.
        config = self.builder_config
        check_config(config)
        train = scene_layouts(config, config.num_train, [config.seed, _TRAIN])
        test = scene_layouts(config, config.num_test, [config.seed, _TEST])
        # One Haar rotation per piece slot of each test scene, about the piece's
        # own centroid: `test` is `test_canonical` with every piece turned.
        state = np.random.SeedSequence([config.seed, _ROTATIONS]).generate_state(1)
        haar = random_rotation(
            max(config.num_test, 1) * config.max_pieces, seed=int(state[0])
        ).reshape(-1, config.max_pieces, 3, 3)
        rotated = [
            (labels, centres, haar[i, : len(labels)])
            for i, (labels, centres, _) in enumerate(test)
        ]
        return {
            "train": self._generate_examples(train),
            "test": self._generate_examples(rotated),
            "test_canonical": self._generate_examples(test),
        }

    def _generate_examples(self, layouts):
        """Yields ``(index, example)`` for each ``(labels, centres, rotations)``."""
        config = self.builder_config
        for index, (labels, centres, rotations) in enumerate(layouts):
            scene = render_scene(
                labels,
                centres,
                rotations,
                grid_size=config.grid_size,
                block_size=config.block_size,
                supersampling=config.supersampling,
            )
            k, num = config.max_pieces, len(labels)
            padded_labels = np.full(k, -1, dtype=np.int32)
            padded_labels[:num] = labels
            padded_centres = np.zeros((k, 3), dtype=np.float32)
            padded_centres[:num] = centres
            padded_rotations = np.zeros((k, 3, 3), dtype=np.float32)
            padded_rotations[:num] = rotations
            yield (
                index,
                {
                    "voxels": scene["voxels"][..., None],
                    "segmentation": scene["segmentation"],
                    "centroid_offset": scene["centroid_offset"],
                    "scene_index": np.int32(index),
                    "num_pieces": np.int32(num),
                    "labels": padded_labels,
                    "centres": padded_centres,
                    "rotations": padded_rotations,
                },
            )


def check_config(config):
    """Raises a ValueError naming the values to change if ``config`` cannot work.

    Args:
        config: a :class:`TetrisScenesConfig`.

    Raises:
        ValueError: for non-positive sizes, piece counts outside ``1..8`` or in
            the wrong order, or a grid that cannot hold the largest piece's
            bounding sphere.
    """
    n, b = config.grid_size, config.block_size
    if (
        min(n, b, config.supersampling) < 1
        or min(config.num_train, config.num_test) < 0
    ):
        raise ValueError(
            "grid_size, block_size and supersampling must be positive and "
            "num_train, num_test non-negative, got "
            f"{n}, {b}, {config.supersampling}, {config.num_train}, "
            f"{config.num_test}."
        )
    if not 1 <= config.min_pieces <= config.max_pieces <= len(TETRIS_NAMES):
        raise ValueError(
            "Need 1 <= min_pieces <= max_pieces <= 8 (a scene holds distinct "
            f"pieces), got min_pieces={config.min_pieces}, "
            f"max_pieces={config.max_pieces}."
        )
    for piece in TETRIS_NAMES:
        diameter = 2 * (piece_radius(piece, b) + MARGIN)
        if diameter > n:
            raise ValueError(
                f"The piece {piece!r} with block_size={b} needs a sphere "
                f"{diameter:.2f} voxels across (a {MARGIN:g}-voxel margin "
                f"included) to turn freely, more than grid_size={n}: use a "
                f"grid_size of at least {int(np.ceil(diameter))} or a smaller "
                "block_size."
            )


def scene_layouts(config, num_scenes, seed):
    """Random pieces and non-overlapping centres for ``num_scenes`` scenes.

    Each scene draws ``min_pieces..max_pieces`` distinct pieces, then places
    them one by one at uniform random real-valued centres (sub-voxel parts
    included) whose bounding spheres (:func:`piece_radius` plus :data:`MARGIN`)
    lie inside the grid and miss the spheres placed before: the pieces then stay
    apart in every orientation.  A piece that finds no place among
    :data:`CANDIDATES` random centres restarts the scene.

    Args:
        config: a :class:`TetrisScenesConfig`.
        num_scenes: how many scenes.
        seed: anything ``numpy.random.default_rng`` takes.

    Returns:
        A list of ``(labels [k] int32, centres [k, 3] float64, rotations
        [k, 3, 3] identities)``; the centres are float32 values (stored exactly).

    Raises:
        ValueError: when a scene cannot be placed in :data:`SCENE_TRIES` tries.
    """
    check_config(config)
    rng = np.random.default_rng(seed)
    n = config.grid_size
    radii = np.array(
        [piece_radius(p, config.block_size) + MARGIN for p in TETRIS_NAMES]
    )
    layouts = []
    for _ in range(num_scenes):
        count = rng.integers(config.min_pieces, config.max_pieces + 1)
        labels = rng.choice(len(TETRIS_NAMES), size=count, replace=False)
        centres = _place(rng, radii[labels], n)
        if centres is None:
            raise ValueError(
                f"Could not place {count} pieces "
                f"({', '.join(TETRIS_NAMES[i] for i in labels)}) apart in a "
                f"{n}^3 grid in {SCENE_TRIES} tries: use a larger grid_size, or a "
                "smaller max_pieces or block_size."
            )
        layouts.append(
            (
                labels.astype(np.int32),
                centres,
                np.broadcast_to(np.eye(3), (count, 3, 3)),
            )
        )
    return layouts


def _place(rng, radii, n):
    """Centres ``[k, 3]`` for spheres of ``radii`` apart inside ``[-0.5, n - 0.5]^3``.

    None if :data:`SCENE_TRIES` attempts fail.
    """
    for _ in range(SCENE_TRIES):
        centres = []
        for i, r in enumerate(radii):
            # Voxel centres at 0..n-1: the grid's faces at -0.5 and n - 0.5.
            candidates = rng.uniform(r - 0.5, n - 0.5 - r, size=(CANDIDATES, 3))
            # Round to float32 first, so that the stored centres are the exact
            # ones the offsets point to.
            candidates = candidates.astype(np.float32).astype(np.float64)
            if centres:
                distance = np.linalg.norm(
                    candidates[:, None] - np.array(centres)[None], axis=-1
                )
                free = np.all(distance >= r + radii[:i], axis=1)
            else:
                free = np.ones(CANDIDATES, dtype=bool)
            if not free.any():
                break
            centres.append(candidates[np.argmax(free)])
        else:
            return np.array(centres)
    return None


@functools.cache
def _box_size(piece, block_size):
    """Odd edge ``m`` of a box that holds the piece at any rotation and centre.

    :func:`tetris_voxels` rotates the piece about the box centre, around which
    its centroid sits at ``d0`` (up to half a voxel per axis), and then shifts
    it by ``t = f - R d0`` to bring the centroid to ``f`` (the sub-voxel part of
    the scene centre, ``|f| <= sqrt(3)/2``).  Its fit check asks for the corners'
    reach about the box centre plus ``|t|``, at most ``r + 2 |d0| + sqrt(3)/2``,
    to stay within ``m / 2``.
    """
    d0 = np.linalg.norm(piece_centroid(piece, grid_size=1, block_size=block_size))
    reach = piece_radius(piece, block_size) + 2 * d0 + np.sqrt(3) / 2
    m = int(np.ceil(2 * reach))
    return m + 1 - m % 2  # odd: the box centre is a voxel centre


def render_scene(labels, centres, rotations, *, grid_size, block_size, supersampling=3):
    """Voxelises a scene and its dense targets.

    Each piece is voxelised on a small odd box (:func:`_box_size`) around it,
    rotated about its own centroid and shifted by the sub-voxel part of its
    centre, then pasted into the scene at the integer part: ``m^3`` rather than
    ``grid_size^3`` sub-sampled voxels per piece.

    Args:
        labels: ``[k]`` indices into :data:`TETRIS_NAMES` (distinct or not).
        centres: ``[k, 3]`` centroids in voxels along the array axes; their
            bounding spheres must lie inside the grid (see :func:`scene_layouts`).
        rotations: ``[k, 3, 3]`` rotations of the pieces about their centroids.
        grid_size: voxels per axis ``n``.
        block_size: voxels per cube edge.
        supersampling: sub-voxel samples per axis.

    Returns:
        A dict: ``voxels`` float32 ``[n, n, n]`` (the partial volumes summed,
        clipped to [0, 1]); ``segmentation`` int32 ``[n, n, n]``, the class
        ``label + 1`` of the piece with the largest partial volume in a voxel if
        that volume is >= 0.5, else 0; ``centroid_offset`` float32
        ``[n, n, n, 3]``, the vector from a foreground voxel's centre to its
        piece's centre, 0 on background.
    """
    n, b = int(grid_size), int(block_size)
    voxels = np.zeros((n, n, n), dtype=np.float64)
    best = np.zeros((n, n, n), dtype=np.float64)
    owner = np.full((n, n, n), -1, dtype=np.int64)  # instance with the largest volume
    for instance, (label, centre, rotation) in enumerate(
        zip(labels, centres, rotations)
    ):
        piece = TETRIS_NAMES[int(label)]
        m = _box_size(piece, b)
        centre = np.asarray(centre, dtype=np.float64)
        base = np.rint(centre).astype(np.int64)
        rotation = np.asarray(rotation, dtype=np.float64)
        # Centroid of the unshifted piece rotated about the box centre: R d0.
        turned = piece_centroid(piece, rotation, grid_size=m, block_size=b)
        box = tetris_voxels(
            piece,
            rotation,
            grid_size=m,
            block_size=b,
            supersampling=supersampling,
            offset=centre - base - turned,
        ).astype(np.float64)
        # Paste: box voxel a is scene voxel a + corner; crop at the grid's faces
        # (nothing of the piece is there when its sphere lies inside the grid).
        corner = base - (m - 1) // 2
        lo, hi = np.maximum(corner, 0), np.minimum(corner + m, n)
        if np.any(hi <= lo):
            continue
        dst = tuple(slice(l, h) for l, h in zip(lo, hi))
        part = box[tuple(slice(l - c, h - c) for l, h, c in zip(lo, hi, corner))]
        voxels[dst] += part
        larger = part > best[dst]
        best[dst] = np.where(larger, part, best[dst])
        owner[dst] = np.where(larger, instance, owner[dst])
    foreground = best >= 0.5
    segmentation = np.zeros((n, n, n), dtype=np.int32)
    offset = np.zeros((n, n, n, 3), dtype=np.float64)
    index = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), axis=-1)
    for instance, (label, centre) in enumerate(zip(labels, centres)):
        mine = foreground & (owner == instance)
        segmentation[mine] = int(label) + 1
        offset[mine] = np.asarray(centre, dtype=np.float64) - index[mine]
    return {
        "voxels": np.clip(voxels, 0.0, 1.0).astype(np.float32),
        "segmentation": segmentation,
        "centroid_offset": offset.astype(np.float32),
    }
