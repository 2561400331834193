"""What the example scripts do first: load TensorFlow without its start-up noise.

A script calls :func:`quiet` before it imports TensorFlow, Keras or keras_se3, so
that its output is what it has to say.  Only third-party messages that we cannot
fix at their source are dropped, each matched narrowly; everything else, our own
warnings included, still shows:

- TensorFlow's C++ start-up log lines (written to the stderr file descriptor
  before Python can configure anything, and not all of them honour
  ``TF_CPP_MIN_LOG_LEVEL``): the absl pre-initialisation notice, "oneDNN custom
  operations are on", "Could not find cuda drivers" and "failed call to cuInit" on
  a machine without a GPU, and the CPU-instructions notice.  They are captured
  while TensorFlow is imported and probes for GPUs; any other line is replayed.
- TFDS 4.9's ```FeatureConnector.dtype` is deprecated`` warning: TFDS logs it from
  its own ``Tensor.decode_example`` for every ZLIB-encoded feature (the tetris
  voxels), not because of our code (our builders use NumPy dtypes).
- TFDS 4.9's "Variant folder <dir> has no dataset_info.json" when ``<dir>`` does
  not exist: its ``is_prepared`` warns so on the first use of every dataset,
  before generating it (a folder that exists without the file still warns).
- NumPy's ``np.object`` FutureWarning, raised by ``hasattr(np, "object")`` in
  Keras's tf2onnx patch (``keras.src.export.tf2onnx_lib``), which
  ``keras_se3.export.to_onnx`` applies.

This file stays with the examples, not in the package: it must run before
TensorFlow is imported, and importing anything from keras_se3 imports TensorFlow.
The scripts import it only when run as scripts (then ``examples/`` is on
``sys.path``), so importing a script as a module changes nothing.
"""

import logging
import os
import sys
import tempfile
import warnings

#: Substrings of TensorFlow's C++ start-up lines that :func:`quiet` drops.
TENSORFLOW_STARTUP_NOISE = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "] oneDNN custom operations are on.",
    "] Could not find cuda drivers on your machine, GPU will not be used.",
    "] failed call to cuInit:",
    "] This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions:",
)


class _TfdsNoise(logging.Filter):
    """Drops two of TFDS's own log warnings (see the module docstring)."""

    def filter(self, record):
        if "tensorflow_datasets" not in record.pathname.replace(os.sep, "/"):
            return True
        if "`FeatureConnector.dtype` is deprecated" in record.getMessage():
            return False
        # "Variant folder <dir> has no dataset_info.json" about a folder that does
        # not exist: TFDS asks on every first use; a real broken folder still warns.
        if record.msg == "Variant folder %s has no %s" and record.args:
            return os.path.exists(str(record.args[0]))
        return True


def _import_tensorflow_dropping_startup_noise():
    """Import TensorFlow and probe for GPUs with fd 2 captured, then replay it.

    Replays every captured line but :data:`TENSORFLOW_STARTUP_NOISE`; all of them
    if the import fails.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    failed = True
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")  # CUDA is probed (cuInit) here
            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode(errors="replace")
            for line in text.splitlines(keepends=True):
                if failed or not any(n in line for n in TENSORFLOW_STARTUP_NOISE):
                    sys.stderr.write(line)
            sys.stderr.flush()


def quiet():
    """Import TensorFlow quietly, filter the known third-party warnings, and show
    keras_se3's INFO messages.

    Call it once, before anything imports TensorFlow.  Sets
    ``TF_CPP_MIN_LOG_LEVEL=2`` unless it is set already (TensorFlow's C++ info
    and warning logs off; errors stay).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _import_tensorflow_dropping_startup_noise()
    warnings.filterwarnings(
        "ignore",
        message=r"In the future `np\.object` will be defined",
        category=FutureWarning,
        module=r"keras\.src\.export\.tf2onnx_lib",
    )
    logging.getLogger("absl").addFilter(_TfdsNoise())
    show_package_info()


def show_package_info():
    """Print keras_se3's INFO messages (the strategy, the dtype policy) as lines
    of the script's output: the package logs them, and a script shows them."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    package = logging.getLogger("keras_se3")
    package.addHandler(handler)
    package.setLevel(logging.INFO)
    package.propagate = False
