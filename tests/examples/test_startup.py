"""examples/startup.py drops only the known third-party noise.

(End to end, tests/examples/test_tetris_script.py checks that none of it reaches
the output of a script run.)
"""

import logging
import warnings

from .scripts import load_example

TFDS_FILE = "/venv/site-packages/tensorflow_datasets/core/features/feature.py"
DTYPE = "`FeatureConnector.dtype` is deprecated. Please change your code to use ..."
NP_OBJECT = (
    "In the future `np.object` will be defined as the corresponding NumPy scalar."
)


def _record(path, msg, *args):
    return logging.LogRecord("absl", logging.WARNING, path, 1, msg, args, None)


def test_tfds_filter_drops_only_tfds_own_two_warnings(tmp_path):
    noise = load_example("startup")._TfdsNoise()
    assert not noise.filter(_record(TFDS_FILE, DTYPE))
    assert noise.filter(_record("/src/keras_se3/datasets/pipelines.py", DTYPE))
    assert noise.filter(_record(TFDS_FILE, "Some other TFDS warning %s", 1))
    variant = tmp_path / "tetris" / "small" / "3.1.0"
    missing = _record(TFDS_FILE, "Variant folder %s has no %s", variant, "x.json")
    assert not noise.filter(missing)  # TFDS's question before the first build
    variant.mkdir(parents=True)  # a real folder without the file: still said
    assert noise.filter(missing)


def test_quiet_ignores_only_numpys_warning_from_keras_tf2onnx_patch():
    startup = load_example("startup")
    absl = logging.getLogger("absl")
    before = list(absl.filters)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            startup.quiet()
            for module in ("keras.src.export.tf2onnx_lib", "keras_se3.export"):
                warnings.warn_explicit(
                    NP_OBJECT, FutureWarning, "f.py", 1, module=module
                )
            warnings.warn("our own warning", UserWarning, stacklevel=1)
        assert [(w.category, str(w.message)) for w in caught] == [
            (FutureWarning, NP_OBJECT),  # the one raised outside Keras's patch
            (UserWarning, "our own warning"),
        ]
        assert [type(f).__name__ for f in absl.filters[len(before) :]] == ["_TfdsNoise"]
    finally:
        absl.filters[:] = before
