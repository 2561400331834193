"""Input pipelines: stored point coordinates -> rotated, voxelised batches."""

import tensorflow as tf

from keras_se3.voxelize import (
    random_rotations,
    random_subvoxel_offsets,
    rotate_points,
    voxelize_points,
)

AUTOTUNE = tf.data.AUTOTUNE


def _load(name, split, data_dir, download):
    import tensorflow_datasets as tfds

    return tfds.load(name, split=split, data_dir=data_dir, download=download)


def voxel_pipeline(
    dataset,
    *,
    points_key,
    grid_size,
    voxel_size,
    sigma,
    label_key="label",
    rotate=False,
    shift=False,
    seed=0,
    batch_size=None,
    shuffle=False,
    shuffle_buffer=1024,
    as_dict=False,
    num_parallel_calls=AUTOTUNE,
):
    """Voxelise a dataset of point clouds, with an optional random rotation each.

    The coordinates of each example are rotated by a Haar-random rotation (exact: no
    grid is resampled), translated by a random sub-voxel offset, and then splatted
    onto a centred grid with :func:`keras_se3.voxelize.voxelize_points`.

    Args:
        dataset: a ``tf.data.Dataset`` of dicts with ``points_key`` (``[P, 3]``) and
            ``label_key``.
        points_key: key of the coordinates.
        grid_size: voxels per axis.
        voxel_size: voxel edge length, in the units of the coordinates.
        sigma: Gaussian standard deviation, same units.
        label_key: key of the label.
        rotate: whether to rotate each example randomly.  The rotations are a pure
            function of ``seed`` and change from epoch to epoch.
        shift: whether to translate each example by a random offset uniform in
            one voxel (:func:`keras_se3.voxelize.random_subvoxel_offsets`), so that
            the net never learns where the points sit relative to the voxel
            centres; a pure function of ``seed``, new every epoch.
        seed: seed of the rotations, offsets and shuffling.
        batch_size: batch size, or None for unbatched examples.
        shuffle: whether to shuffle (before batching).
        shuffle_buffer: size of the shuffle buffer.
        as_dict: if False (default) yield ``(voxels, label)`` pairs, ready for
            ``model.fit``; if True yield dicts with ``voxels``, ``label``,
            ``rotation`` (the ``[3, 3]`` matrix applied), ``offset`` (the ``[3]``
            translation in voxels) and ``num_dropped`` (points that fell outside
            the grid).
        num_parallel_calls: parallelism of the voxelising ``map``.

    Returns:
        A ``tf.data.Dataset`` of ``[grid_size]*3 + [1]`` float32 voxel grids and labels.
    """
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed)
    if rotate:
        rotations = random_rotations(seed)
    else:
        rotations = tf.data.Dataset.from_tensors(tf.eye(3)).repeat()
    if shift:
        offsets = random_subvoxel_offsets(seed)
    else:
        offsets = tf.data.Dataset.from_tensors(tf.zeros(3)).repeat()
    dataset = tf.data.Dataset.zip(dataset, rotations, offsets)

    def voxelize(example, rotation, offset):
        points = tf.cast(example[points_key], tf.float32)
        points = rotate_points(points, rotation) + offset * voxel_size
        voxels, num_dropped = voxelize_points(points, grid_size, voxel_size, sigma)
        if as_dict:
            return {
                "voxels": voxels,
                "label": example[label_key],
                "rotation": rotation,
                "offset": offset,
                "num_dropped": num_dropped,
            }
        return voxels, example[label_key]

    dataset = dataset.map(
        voxelize, num_parallel_calls=num_parallel_calls, deterministic=True
    )
    if batch_size is not None:
        dataset = dataset.batch(batch_size)
    return dataset.prefetch(AUTOTUNE)


def cath_pipeline(
    split="train",
    *,
    config="10arch",
    dataset=None,
    data_dir=None,
    download=True,
    grid_size=50,
    voxel_size=2.0,
    sigma=1.0,
    rotate=None,
    shift=None,
    seed=0,
    batch_size=16,
    shuffle=None,
    shuffle_buffer=1024,
    as_dict=False,
):
    """CATH (Weiler et al. 2018, section 5.5) as batches of voxelised proteins.

    C-alpha atoms become Gaussians of ``sigma`` = 1 Å on a 50^3 grid of 2 Å voxels
    (100 Å across: the construction of the dataset keeps every atom within 50 Å of
    the protein's centre, so no atom is dropped in any orientation; a training
    shift can move an atom within half a voxel of the border out, and
    ``num_dropped`` counts it).  Training examples are rotated by a new
    Haar-random rotation and shifted by a new sub-voxel offset on every
    presentation.

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"`` (any TFDS split string).
        config: ``"3class"``, ``"10arch"`` or ``"20topo"``.
        dataset: optional already-loaded ``tf.data.Dataset`` of ``cath`` examples
            (then ``split``/``config``/``data_dir`` are not used for loading).
        data_dir: TFDS data directory.
        download: let TFDS download and prepare the data if needed.
        grid_size: voxels per axis.
        voxel_size: voxel edge in Å.
        sigma: Gaussian standard deviation in Å.
        rotate: random rotations; default: for ``"train"`` only.
        shift: random sub-voxel offsets (see :func:`voxel_pipeline`); default:
            for ``"train"`` only.
        seed: seed of rotations, offsets and shuffling.
        batch_size: batch size (None: unbatched).
        shuffle: shuffle; default: for ``"train"`` only.
        shuffle_buffer: shuffle buffer size.
        as_dict: yield dicts with the rotation and dropped-point count (see
            :func:`voxel_pipeline`).

    Returns:
        A ``tf.data.Dataset`` of ``(voxels [B, 50, 50, 50, 1], label [B])``.
    """
    is_train = split == "train"
    if dataset is None:
        dataset = _load(f"cath/{config}", split, data_dir, download)
    return voxel_pipeline(
        dataset,
        points_key="positions",
        grid_size=grid_size,
        voxel_size=voxel_size,
        sigma=sigma,
        rotate=is_train if rotate is None else rotate,
        shift=is_train if shift is None else shift,
        seed=seed,
        batch_size=batch_size,
        shuffle=is_train if shuffle is None else shuffle,
        shuffle_buffer=shuffle_buffer,
        as_dict=as_dict,
    )


def shrec17_pipeline(
    split="train",
    *,
    config="perturbed",
    dataset=None,
    data_dir=None,
    download=True,
    grid_size=64,
    voxel_size=2 / 64,
    sigma=2 / 64,
    rotate=None,
    shift=None,
    seed=0,
    batch_size=16,
    shuffle=None,
    shuffle_buffer=1024,
    as_dict=False,
):
    """SHREC17 as batches of voxelised surfaces (64^3 by default, as in the paper).

    The stored surface points are normalised to the unit ball, so the default grid
    (64 voxels of 2/64) holds every shape in every orientation; each point is a
    Gaussian of one voxel (which also fills the gaps between the samples).
    Training examples are rotated and shifted by a sub-voxel offset on every
    presentation (a point within half a voxel of the border can leave the grid;
    ``num_dropped`` counts it).  The test split has label -1 (no public labels).

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"``.
        config: ``"normal"`` or ``"perturbed"``.
        dataset: optional already-loaded dataset of ``shrec17`` examples.
        data_dir: TFDS data directory.
        download: let TFDS download and prepare the data if needed.
        grid_size: voxels per axis.
        voxel_size: voxel edge (the shapes have radius 1).
        sigma: Gaussian standard deviation.
        rotate: random rotations; default: for ``"train"`` only.
        shift: random sub-voxel offsets (see :func:`voxel_pipeline`); default:
            for ``"train"`` only.
        seed: seed of rotations, offsets and shuffling.
        batch_size: batch size (None: unbatched).
        shuffle: shuffle; default: for ``"train"`` only.
        shuffle_buffer: shuffle buffer size.
        as_dict: yield dicts with the rotation and dropped-point count.

    Returns:
        A ``tf.data.Dataset`` of ``(voxels [B, 64, 64, 64, 1], label [B])``.
    """
    is_train = split == "train"
    if dataset is None:
        dataset = _load(f"shrec17/{config}", split, data_dir, download)
    return voxel_pipeline(
        dataset,
        points_key="points",
        grid_size=grid_size,
        voxel_size=voxel_size,
        sigma=sigma,
        rotate=is_train if rotate is None else rotate,
        shift=is_train if shift is None else shift,
        seed=seed,
        batch_size=batch_size,
        shuffle=is_train if shuffle is None else shuffle,
        shuffle_buffer=shuffle_buffer,
        as_dict=as_dict,
    )


def tetris_pipeline(
    split="train",
    *,
    config="default",
    dataset=None,
    data_dir=None,
    download=True,
    batch_size=8,
    shift=None,
    rotate=False,
    seed=0,
):
    """Tetris as ``(voxels [B, n, n, n, 1], label [B])`` batches, ready for ``fit``.

    The training split is by default voxelised afresh on every epoch: each of the
    8 pieces, still in its canonical orientation, translated by a random offset
    uniform in one voxel and voxelised by partial volume
    (:func:`keras_se3.datasets.tetris_pieces.tetris_voxels_tf`), the way rotated
    test pieces are made.  The stored canonical grids are exact 0/1 blocks whose
    faces lie on voxel faces; a net trained on them alone learns those faces, and
    no rotated piece has them (docs/results.md: the accuracy on freshly
    voxelised rotations, with and without the shifts).

    Args:
        split: ``"train"``, ``"test"`` (resampled rotations), ``"test_revoxelized"``
            or ``"test_rot90"``.
        config: ``"default"`` (37^3), ``"small"`` (17^3), ``"coarse"`` (13^3), or
            another config of the ``tetris`` dataset.
        dataset: optional already-loaded dataset of ``tetris`` examples: their
            stored grids, as they are (``shift`` then defaults to False).
        data_dir: TFDS data directory.
        download: let TFDS generate the data if needed.
        batch_size: batch size (None: unbatched).  8, the default, puts each
            piece once in each batch of the training split.
        shift: voxelise the training pieces afresh at random sub-voxel offsets,
            new every epoch (the pieces of ``config``).  Default: True for
            ``"train"`` unless ``dataset`` is given; the other splits are fixed
            test sets and refuse it.
        rotate: also rotate each training piece by a fresh Haar-random rotation
            (rotation augmentation: the baseline that a plain CNN needs).
        seed: seed of the offsets and rotations.

    Returns:
        A ``tf.data.Dataset`` of ``(voxels, label)``: for the training split with
        ``shift`` or ``rotate``, one epoch is the 8 pieces (in label order).

    Raises:
        ValueError: ``shift`` or ``rotate`` on a test split, or an unknown config.
    """
    if shift is None:
        shift = split == "train" and dataset is None
    fresh = shift or rotate
    if fresh and split != "train":
        raise ValueError(
            f"shift/rotate voxelise the training pieces afresh; the {split!r} split "
            "is a fixed test set. Use split='train', or shift=False and rotate=False."
        )
    if fresh:
        dataset = _fresh_tetris_pieces(config, shift, rotate, seed)
    else:
        if dataset is None:
            dataset = _load(f"tetris/{config}", split, data_dir, download)
        dataset = dataset.map(lambda ex: (ex["voxels"], ex["label"]))
    if batch_size is not None:
        dataset = dataset.batch(batch_size)
    return dataset.prefetch(AUTOTUNE)


def _fresh_tetris_pieces(config, shift, rotate, seed):
    """The 8 pieces voxelised afresh each epoch: ``(voxels [n, n, n, 1], label)``."""
    from keras_se3.datasets.tetris import tetris_dataset_builder
    from keras_se3.datasets.tetris_pieces import TETRIS_NAMES, tetris_voxels_tf

    configs = {c.name: c for c in tetris_dataset_builder.Builder.BUILDER_CONFIGS}
    if config not in configs:
        raise ValueError(f"Unknown tetris config {config!r}; known: {sorted(configs)}.")
    c = configs[config]
    geometry = dict(
        grid_size=c.grid_size,
        block_size=c.block_size,
        supersampling=c.supersampling,
        style=c.style,
    )
    labels = tf.data.Dataset.range(len(TETRIS_NAMES))
    if shift:
        offsets = random_subvoxel_offsets(seed, dtype=tf.float64)
    else:
        offsets = tf.data.Dataset.from_tensors(tf.zeros(3, tf.float64)).repeat()
    if rotate:
        rotations = random_rotations(seed, dtype=tf.float64)
    else:
        rotations = tf.data.Dataset.from_tensors(tf.eye(3, dtype=tf.float64)).repeat()

    def voxelize(label, offset, rotation):
        voxels = tetris_voxels_tf(label, rotation, offset, **geometry)
        return voxels[..., None], label

    return tf.data.Dataset.zip(labels, offsets, rotations).map(
        voxelize, num_parallel_calls=AUTOTUNE, deterministic=True
    )
