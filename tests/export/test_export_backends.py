"""What each Keras backend can export: SavedModel on TensorFlow and JAX, ONNX on
TensorFlow; elsewhere a clear error that says how to get there."""

import keras
import pytest

from keras_se3 import InvariantPooling, SE3Conv3D
from keras_se3.export import to_onnx, to_saved_model

SAVED_MODEL = ("tensorflow", "jax")
ONNX = ("tensorflow",)


def _model():
    inputs = keras.Input((None, None, None, 1))
    x = SE3Conv3D("2x0 + 1x1", 3, in_fields="1x0")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2)(InvariantPooling("2x0 + 1x1")(x)))


def test_saved_model_on_tensorflow_and_jax_and_a_clear_error_elsewhere(tmp_path):
    model = _model()
    if keras.backend.backend() in SAVED_MODEL:
        assert to_saved_model(model, tmp_path / "sm", check=True) <= 1e-5
    else:
        with pytest.raises(RuntimeError, match="KERAS_BACKEND=tensorflow"):
            to_saved_model(model, tmp_path / "sm")
        assert not (tmp_path / "sm").exists()


def test_onnx_on_tensorflow_and_a_clear_error_elsewhere(tmp_path):
    if keras.backend.backend() in ONNX:
        assert to_onnx(_model(), tmp_path / "m.onnx", check=True) <= 1e-5
        return
    with pytest.raises(RuntimeError, match=r"needs the tensorflow Keras backend"):
        to_onnx(_model(), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
