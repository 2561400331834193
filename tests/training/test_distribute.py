"""keras_se3.training.distribute: TF_CONFIG, the chief, mixed precision."""

import json

import keras
import numpy as np
import pytest

from keras_se3 import training


@pytest.mark.parametrize(
    "text, message",
    [
        ("{", "TF_CONFIG is not valid JSON"),
        ("[1, 2]", "needs a 'cluster' and a 'task'"),
        (
            '{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}',
            "is not in its cluster",
        ),
        (
            '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}',
            r"index 1 is out of range: the cluster has 1 worker\(s\)",
        ),
    ],
)
def test_bad_tf_config_is_a_setup_error(monkeypatch, text, message):
    monkeypatch.setenv("TF_CONFIG", text)
    with pytest.raises(training.SetupError, match=message):
        training.read_tf_config()


def test_chief_is_worker_0_or_the_chief_task(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert training.read_tf_config() is None and training.is_chief()
    two = {"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker"}}
    for index, chief in ((0, True), (1, False)):
        two["task"]["index"] = index
        monkeypatch.setenv("TF_CONFIG", json.dumps(two))
        assert training.is_chief() is chief
    with_chief = {
        "cluster": {"chief": ["c:1"], "worker": ["a:1"]},
        "task": {"type": "worker", "index": 0},
    }
    monkeypatch.setenv("TF_CONFIG", json.dumps(with_chief))
    assert not training.is_chief()
    with_chief["task"] = {"type": "chief", "index": 0}
    monkeypatch.setenv("TF_CONFIG", json.dumps(with_chief))
    assert training.is_chief()


def test_mixed_precision_policy_and_float32_logits(caplog):
    try:
        # The CPU caveat is a warning; the policy is logged, not printed.
        with pytest.warns(UserWarning, match="SE3Conv3D avoids it"):
            with caplog.at_level("INFO", logger="keras_se3"):
                assert training.set_mixed_precision(True) == "mixed_bfloat16"
        assert "mixed precision: mixed_bfloat16" in caplog.text
        inputs = keras.Input((3,))
        model = keras.Model(inputs, keras.layers.Dense(2)(inputs), name="net")
    finally:
        assert training.set_mixed_precision(False) == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"
    wrapped = training.float32_logits(model)
    x = np.arange(6, dtype="float32").reshape(2, 3)
    assert model(x).dtype == "bfloat16" and wrapped(x).dtype == "float32"
    np.testing.assert_array_equal(
        np.asarray(wrapped(x)), np.asarray(model(x), dtype="float32")
    )
    assert (
        wrapped.name == "net" and wrapped.trainable_weights == model.trainable_weights
    )
