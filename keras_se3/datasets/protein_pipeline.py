"""``protein_sse`` chains -> voxelised atoms and the voxels of their residues."""

import tensorflow as tf

from keras_se3.voxelize import (
    random_rotations,
    random_subvoxel_offsets,
    rotate_points,
    voxelize_points,
)

#: Input channels: one Gaussian density per element (``atoms/element`` ids 0-3);
#: atoms of any other element (id 4) get weight 0.
ELEMENTS = ("C", "N", "O", "S")


def protein_sse_pipeline(
    split="train",
    *,
    dataset=None,
    data_dir=None,
    download=True,
    grid_size=33,
    voxel_size=1.0,
    sigma=0.7,
    crop=None,
    rotate=None,
    shift=None,
    seed=0,
    batch_size=4,
    max_residues=192,
    shuffle=None,
    shuffle_buffer=64,
    as_dict=False,
):
    """``protein_sse`` as voxelised atoms, with the voxel and class of each residue.

    Each chain's heavy atoms become Gaussians of ``sigma`` Å, one channel per
    element (C, N, O, S), on a ``grid_size``^3 grid of ``voxel_size`` Å voxels.
    The grid is centred on the Cα of a random residue (``crop``: a new one each
    epoch) or on the chain's centroid (whole chains: every atom of the dataset
    lies within 41 Å of its chain's centroid, so 85^3 at 1 Å holds every chain
    in any orientation; 65^3 holds 43 of the 50, and 7 lose atoms in some
    orientations, which ``num_dropped`` counts).  The coordinates
    are rotated about that centre by a Haar-random rotation and translated by a
    random sub-voxel offset, then voxelised: a rotated chain is voxelised afresh,
    never resampled.

    The targets are per residue: the voxel of its Cα (rounded) and its DSSP class.
    The model stays a per-voxel net (a U-Net, exportable as it is); its loss and
    scores read its output at those voxels (for example ``ops.take_along_axis`` on
    the flattened grid). Residues whose Cα falls outside the grid, and the padding
    up to ``max_residues``, have weight 0.

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"`` (any TFDS split string).
        dataset: optional already-loaded ``tf.data.Dataset`` of ``protein_sse``
            examples (then ``split``/``data_dir`` are not used for loading).
        data_dir: TFDS data directory.
        download: let TFDS prepare the data if needed.
        grid_size: voxels per axis (a size the U-Net's levels divide, see
            :func:`keras_se3.models.unet_grid_sizes`).
        voxel_size: voxel edge in Å.
        sigma: Gaussian standard deviation in Å.
        crop: centre on a random residue (True) or on the chain (False); default:
            for ``"train"`` only.
        rotate: random rotations; default: for ``"train"`` only.
        shift: random sub-voxel offsets; default: for ``"train"`` only.
        seed: seed of the rotations, offsets, crops and shuffling.
        batch_size: batch size (None: unbatched).
        max_residues: residues per example, padded with weight 0 (a chain with
            more is an error: raise it to the chain's length).
        shuffle: shuffle; default: for ``"train"`` only.
        shuffle_buffer: shuffle buffer size.
        as_dict: if False (default) yield ``(voxels, targets, weights)`` for
            ``model.fit``, with ``targets`` the residue voxels and labels side
            by side; if True yield dicts with ``voxels``, ``residue_voxels``,
            ``labels``, ``weights``, ``rotation``, ``offset``, ``centre`` (Å,
            deposited frame), ``num_dropped`` and ``pdb_id``.

    Returns:
        A ``tf.data.Dataset``: voxels ``[B, n, n, n, 4]`` float32; targets
        ``[B, max_residues, 4]`` int32, per residue the voxel ``(i, j, k)`` of its
        Cα and its label (0 helix, 1 strand, 2 coil); weights
        ``[B, max_residues]`` float32.

    Example:
        ``protein_sse_pipeline("test", crop=False, grid_size=85, rotate=True)``:
        whole test chains at random orientations, voxelised afresh.
    """
    is_train = split == "train"
    crop = is_train if crop is None else crop
    rotate = is_train if rotate is None else rotate
    shift = is_train if shift is None else shift
    shuffle = is_train if shuffle is None else shuffle
    n = int(grid_size)
    if dataset is None:
        import tensorflow_datasets as tfds

        dataset = tfds.load(
            "protein_sse", split=split, data_dir=data_dir, download=download
        )
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed)
    rotations = (
        random_rotations(seed)
        if rotate
        else tf.data.Dataset.from_tensors(tf.eye(3)).repeat()
    )
    offsets = (
        random_subvoxel_offsets(seed)
        if shift
        else tf.data.Dataset.from_tensors(tf.zeros(3)).repeat()
    )
    picks = tf.data.Dataset.random(seed=seed + 1, rerandomize_each_iteration=True)
    dataset = tf.data.Dataset.zip(dataset, rotations, offsets, picks)

    def voxelize(example, rotation, offset, pick):
        atoms, residues = example["atoms"], example["residues"]
        positions = tf.cast(atoms["position"], tf.float32)
        ca = tf.cast(residues["ca"], tf.float32)
        count = tf.shape(ca)[0]
        tf.debugging.assert_less_equal(
            count,
            max_residues,
            message=f"a chain has more residues than max_residues={max_residues}",
        )
        if crop:
            centre = ca[tf.cast(pick % tf.cast(count, tf.int64), tf.int32)]
        else:
            centre = tf.reduce_mean(positions, axis=0)
        move = offset * voxel_size

        def place(points):
            return rotate_points(points - centre, rotation) + move

        element = tf.cast(atoms["element"], tf.int32)
        known = element < len(ELEMENTS)
        voxels, dropped = voxelize_points(
            place(positions),
            n,
            voxel_size,
            sigma,
            channels=tf.where(known, element, 0),
            num_channels=len(ELEMENTS),
            weights=tf.cast(known, tf.float32),
        )
        index = tf.cast(tf.round(place(ca) / voxel_size + (n - 1) / 2), tf.int32)
        inside = tf.reduce_all((index >= 0) & (index < n), axis=-1)
        pad = max_residues - count
        index = tf.pad(tf.where(inside[:, None], index, 0), [[0, pad], [0, 0]])
        labels = tf.pad(tf.cast(residues["label"], tf.int32), [[0, pad]])
        weights = tf.pad(tf.cast(inside, tf.float32), [[0, pad]])
        index = tf.ensure_shape(index, [max_residues, 3])
        labels = tf.ensure_shape(labels, [max_residues])
        weights = tf.ensure_shape(weights, [max_residues])
        if as_dict:
            return {
                "voxels": voxels,
                "residue_voxels": index,
                "labels": labels,
                "weights": weights,
                "rotation": rotation,
                "offset": offset,
                "centre": centre,
                "num_dropped": dropped,
                "pdb_id": example["pdb_id"],
            }
        return voxels, tf.concat([index, labels[:, None]], axis=-1), weights

    dataset = dataset.map(
        voxelize, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    if batch_size is not None:
        dataset = dataset.batch(batch_size)
    return dataset.prefetch(tf.data.AUTOTUNE)
