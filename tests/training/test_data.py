"""keras_se3.training.data: full batches for distributed training."""

import tensorflow as tf

from keras_se3 import training


def test_full_batches_never_repeat_the_partial_batch():
    # 3 examples in batches of 2: repeating the batches would give 2, 1, 2, 1...
    # (a replica's share of the 1 can be empty, which breaks a traced step).
    batches = tf.data.Dataset.range(3).batch(2)
    endless = training.full_batches(batches, 2, repeat=True).take(4)
    assert [b.numpy().tolist() for b in endless] == [[0, 1], [2, 0], [1, 2], [0, 1]]
    once = training.full_batches(batches, 2, repeat=False)
    assert [b.numpy().tolist() for b in once] == [[0, 1]]
