"""``tf.distribute`` strategies belong to TensorFlow: on another Keras backend the
scripts' ``--strategy`` says so instead of running undistributed."""

import keras
import pytest

from keras_se3.training import SetupError
from keras_se3.training.distribute import make_strategy


@pytest.mark.parametrize("name", ["mirrored", "multiworker"])
def test_strategies_need_tensorflow(name, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    if keras.backend.backend() == "tensorflow":
        # The default strategy only: the others would reconfigure this process.
        assert make_strategy("default").num_replicas_in_sync == 1
        return
    with pytest.raises(SetupError, match="need KERAS_BACKEND=tensorflow"):
        make_strategy(name)
    assert make_strategy("default").num_replicas_in_sync == 1
