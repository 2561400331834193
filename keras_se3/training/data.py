"""Prepared TFDS datasets with a clear error when their files are missing."""

import os

import numpy as np

from keras_se3.training.cli import SetupError


def prepare_dataset(name, data_dir=None, manual_dir=None, download=True, files=()):
    """A prepared TFDS builder of one of the package's datasets.

    Prepares the dataset on first use, from ``manual_dir`` or, if ``download``, by
    letting the builder fetch the files missing there.  Needs the ``data`` extra.

    Args:
        name: ``"<dataset>/<config>"``, e.g. ``"cath/10arch"``.
        data_dir: TFDS data directory (default: ``~/tensorflow_datasets``).
        manual_dir: folder of manually downloaded source files (default:
            ``<data_dir>/downloads/manual``).
        download: whether the builder may download what ``manual_dir`` lacks.
        files: the source files the builder needs in ``manual_dir``.

    Returns:
        The ``tfds`` builder, prepared.

    Raises:
        SetupError: with the builder's download instructions, if files are
            missing and ``download`` is False, or if preparing fails (a file that
            is missing, truncated or in the wrong format).
    """
    import tensorflow_datasets as tfds

    import keras_se3.datasets  # noqa: F401  (registers the builders)

    builder = tfds.builder(name, data_dir=data_dir)
    if builder.is_prepared():
        return builder
    manual = manual_dir or os.path.join(builder.data_dir_root, "downloads", "manual")
    missing = [f for f in files if not os.path.exists(os.path.join(manual, f))]
    if missing and not download:
        raise SetupError(
            f"the dataset {name} is not prepared in {builder.data_dir_root}, and the "
            f"manual download directory {manual} lacks {', '.join(missing)}. "
            f"{builder.MANUAL_DOWNLOAD_INSTRUCTIONS.strip()} Then rerun with "
            "--manual-dir (or without --no-download to let TFDS try the download)."
        )
    if missing:
        print(f"{', '.join(missing)} not in {manual}: trying to download them.")
    print(f"preparing {name} in {builder.data_dir_root} (once) ...")
    config = tfds.download.DownloadConfig(manual_dir=manual)
    try:
        builder.download_and_prepare(download_config=config)
    except (FileNotFoundError, ValueError, AssertionError) as error:
        raise SetupError(f"could not prepare {name}: {error}") from error
    return builder


def subset(dataset, fraction):
    """Every ``fraction``-th example of ``dataset``, starting with the first.

    Deterministic: TFDS reads a split in a fixed order, so the subset is the same in
    every run (the paper's data-efficiency curve, ``--train-fraction``).
    """
    return dataset if fraction == 1 else dataset.shard(fraction, 0)


def first_examples(dataset, count):
    """The inputs of the first ``count`` examples of a batched ``(x, y)`` dataset.

    Taken from its first batch, as a float32 numpy array (the export's check inputs).
    """
    x, _ = next(iter(dataset))
    return np.asarray(x[:count], dtype="float32")


def shard_by_example(dataset):
    """``dataset`` set to be split between workers example by example.

    ``tf.distribute`` splits a dataset between the workers of a multi-worker
    cluster by file by default, which fails when a split has fewer files than
    there are workers ("Could not apply FILE based sharding": a small TFDS split
    is one file).  Split by example, every worker reads the whole split and keeps
    its share of each global batch; the pipelines shuffle with a fixed seed, so
    every worker sees the same order and each example is used once per epoch.
    Without workers (one process) the option changes nothing.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return dataset.with_options(options)
