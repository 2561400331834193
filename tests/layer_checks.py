"""Helpers for tests that run layers and models through their checks.

:func:`randomize_weights` gives biases and batch-norm scales values away from
their initial 0 / 1 (so that an export or a rotation that drops them shows),
:func:`update_bn_statistics` moves the batch norms' moving statistics as
training steps would, :func:`assert_stock_only` checks that a collapsed model
holds stock Keras layers only.
"""

import keras


def randomize_weights(model, rng):
    """Non-trivial biases and batch-norm scales (they start at 0 and 1)."""
    for weight in model.weights:
        name = weight.path.split("/")[-1]
        if name in ("bias", "gate_bias", "beta"):
            weight.assign(rng.normal(scale=0.3, size=weight.shape).astype("float32"))
        elif name == "gamma":
            weight.assign(rng.uniform(0.5, 1.5, size=weight.shape).astype("float32"))


def update_bn_statistics(model, shape, rng, steps=3):
    """What ``steps`` training steps do to the moving statistics, without the
    gradients."""
    for _ in range(steps):
        model(rng.normal(size=shape).astype("float32"), training=True)


def assert_stock_only(model):
    """Every layer of ``model`` is a stock Keras layer (and no ``Lambda``)."""
    for layer in model.layers:
        module = type(layer).__module__
        assert module.startswith("keras.") and "keras_se3" not in module, module
        assert not isinstance(layer, keras.layers.Lambda)
