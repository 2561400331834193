"""keras_se3.training.cli: the shared command-line options."""

import argparse

from keras_se3 import training


def test_training_arguments_defaults_and_parsing():
    parser = training.add_training_arguments(
        argparse.ArgumentParser(), epochs=7, batch_size=4, learning_rate=0.5
    )
    args = parser.parse_args([])
    assert (args.epochs, args.batch_size, args.learning_rate) == (7, 4, 0.5)
    assert (args.lr_decay, args.lr_burn_in) == (0.94, 40)
    assert args.download and args.export and args.strategy == "default"
    args = parser.parse_args(["--no-download", "--no-export", "--strategy", "mirrored"])
    assert not args.download and not args.export and args.strategy == "mirrored"
