"""Command lines: the common options, and errors a user can fix shown as one line."""

import argparse
import sys


class SetupError(RuntimeError):
    """A problem with the command line, the environment or the data.

    :func:`run_main` reports it in one line, without a traceback: the message says
    what is wrong and how to fix it.
    """


def run_main(main):
    """Run a script's ``main()`` as a command line.

    A :class:`SetupError` becomes ``error: <message>`` on stderr and exit status 1;
    Ctrl-C says how to resume and exits with 130.  Standard output is line-buffered
    so that progress shows up in piped logs.

    Args:
        main: a function of no arguments.
    """
    sys.stdout.reconfigure(line_buffering=True)  # progress shows up in piped logs
    try:
        main()
    except SetupError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print(
            "\ninterrupted: rerun the same command (same --output-dir) to resume "
            "from the last completed epoch.",
            file=sys.stderr,
        )
        sys.exit(130)


# --- command line ---------------------------------------------------------------------


def add_training_arguments(parser, *, epochs, batch_size, learning_rate):
    """Add the options of a training run to an ``argparse`` parser.

    Data (``--data-dir``, ``--manual-dir``, ``--no-download``), training
    (``--epochs``, ``--batch-size``, ``--learning-rate``, ``--lr-decay``,
    ``--lr-burn-in``, ``--steps-per-epoch``, ``--eval-steps``, ``--seed``,
    ``--output-dir``, ``--no-export``, ``--verbose``) and hardware (``--strategy``,
    ``--mixed-precision``): what :func:`train_evaluate_export` reads.

    Args:
        parser: an ``argparse.ArgumentParser``.
        epochs, batch_size, learning_rate: the defaults of those options.

    Returns:
        ``parser``.
    """
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data-dir", help="TFDS data directory (default: ~/tensorflow_datasets)"
    )
    data.add_argument(
        "--manual-dir",
        help="folder with the manually downloaded source files "
        "(default: <data-dir>/downloads/manual)",
    )
    data.add_argument(
        "--no-download",
        dest="download",
        action="store_false",
        help="never touch the network: prepare the dataset from --manual-dir only",
    )
    train = parser.add_argument_group("training")
    train.add_argument(
        "--epochs", type=int, default=epochs, help="(default: %(default)s)"
    )
    train.add_argument(
        "--batch-size",
        type=int,
        default=batch_size,
        help="global batch size, over all replicas (default: %(default)s)",
    )
    train.add_argument(
        "--learning-rate",
        type=float,
        default=learning_rate,
        help="Adam's initial learning rate (default: %(default)s)",
    )
    train.add_argument(
        "--lr-decay",
        type=float,
        default=0.94,
        help="learning-rate factor per epoch after the burn-in (default: %(default)s)",
    )
    train.add_argument(
        "--lr-burn-in",
        type=int,
        default=40,
        help="epochs at the initial learning rate (default: %(default)s)",
    )
    train.add_argument(
        "--steps-per-epoch", type=int, help="limit the steps per epoch (smoke tests)"
    )
    train.add_argument(
        "--eval-steps", type=int, help="limit the validation and test batches"
    )
    train.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    train.add_argument(
        "--output-dir",
        help="checkpoints, backups (resume), TensorBoard logs, exported models",
    )
    train.add_argument(
        "--no-export", dest="export", action="store_false", help="skip the export"
    )
    train.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=1 if sys.stdout.isatty() else 2,
        help="Keras verbosity: 1 progress bar, 2 one line per epoch",
    )
    dist = parser.add_argument_group("hardware")
    dist.add_argument(
        "--strategy",
        choices=("default", "mirrored", "multiworker"),
        default="default",
        help="tf.distribute strategy: mirrored = all local GPUs, multiworker = the "
        "cluster of the TF_CONFIG environment variable (default: %(default)s)",
    )
    dist.add_argument(
        "--mixed-precision",
        action="store_true",
        help="float16 compute on GPUs, bfloat16 on CPUs (variables stay float32)",
    )
    # Split the CPU into N logical devices, so that --strategy mirrored has replicas
    # to mirror over on a machine without GPUs (tests, debugging).
    dist.add_argument("--cpu-devices", type=int, help=argparse.SUPPRESS)
    return parser
