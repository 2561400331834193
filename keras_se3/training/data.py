"""tf.data for distributed training: split by example, full batches only."""


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


def full_batches(batches, batch_size, repeat):
    """``batches`` rebatched to full batches only, repeated without end if asked.

    Repeating batched data would repeat the split's last, partial batch (3
    examples in batches of 2: 2, 1, 2, 1, ...), and with several replicas a
    partial batch can leave one of them no example at all.  tf.distribute takes
    every batch of an endless dataset to be full, and an empty share breaks the
    traced step: TensorFlow's Conv3D returns an empty input unchanged, and the
    synchronized batch norm after it all-reduces statistics of the wrong size
    ("Shape mismatch in the collective instance").  The dropped remainder is
    different examples each epoch where the pipeline shuffles.
    """
    batches = batches.unbatch()
    if repeat:
        batches = batches.repeat()
    return batches.batch(batch_size, drop_remainder=True).prefetch(-1)
