import keras
import numpy as np
import pytest

from keras_se3.datasets.tetris_pieces import TETRIS_NAMES, tetris_voxels
from keras_se3.models import tetris_net
from keras_se3.optimizers import Adam


def _algorithm_1(grads, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
    """Kingma & Ba's Algorithm 1 (and torch.optim.Adam), float64."""
    m = v = 0.0
    theta = np.zeros_like(grads[0])
    for t, g in enumerate(grads, start=1):
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        m_hat, v_hat = m / (1 - beta_1**t), v / (1 - beta_2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + epsilon)
    return theta


def _run(optimizer, grads):
    variable = keras.Variable(np.zeros_like(grads[0]), dtype="float64")
    for g in grads:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g), variable)])
    return np.asarray(variable)


@pytest.mark.parametrize("scale", [1.0, 1e-7, 1e-9])
def test_adam_is_algorithm_1(scale):
    # Gradients of every size a steerable net's coefficients have, five steps.
    grads = list(scale * np.random.default_rng(0).normal(size=(5, 16)))
    ours = _run(Adam(learning_rate=0.1), grads)
    # rtol 1e-7: Keras keeps the learning rate in a float32 variable (0.1 is
    # 0.10000000149); everything else is float64 here.
    np.testing.assert_allclose(ours, _algorithm_1(grads, 0.1), rtol=1e-7, atol=0)


def test_keras_adam_shrinks_small_gradient_steps():
    # What the package's Adam is for: at gradients of 1e-7 Keras's Adam (epsilon
    # 1e-7 on the uncorrected root) moves ~3 % of the learning rate at step 1;
    # Algorithm 1 moves ~91 %.
    grads = [np.full(4, 1e-7)]
    assert np.all(np.abs(_run(keras.optimizers.Adam(0.1), grads)) < 0.05 * 0.1)
    assert np.all(np.abs(_run(Adam(0.1), grads)) > 0.9 * 0.1)


def test_amsgrad_matches_torch_form():
    grads = [np.array([1e-6, -2.0]), np.array([1e-7, 0.5]), np.array([3e-6, 1.0])]
    m = v = v_max = 0.0
    theta = np.zeros(2)
    for t, g in enumerate(grads, start=1):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g**2
        v_max = np.maximum(v_max, v)
        theta -= 0.1 * (m / (1 - 0.9**t)) / (np.sqrt(v_max / (1 - 0.999**t)) + 1e-8)
    ours = _run(Adam(0.1, amsgrad=True), grads)
    np.testing.assert_allclose(ours, theta, rtol=1e-7)


def test_serialization_round_trip():
    optimizer = Adam(learning_rate=0.05, epsilon=1e-9)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(restored) is Adam
    assert restored.epsilon == 1e-9
    assert float(restored.learning_rate) == pytest.approx(0.05)


def _coefficient_steps(optimizer, lr=0.1):
    """Median |step| / lr of each gated layer's coefficients after one step of
    the paper's Tetris net (se3cnn's parametrisation) on the 8 pieces."""
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = tetris_net(
        basis="paper",
        batch_norm=False,
        parametrization="scaled_basis",
        dropout=0.0,
        input_shape=(13, 13, 13, 1),
    )
    x = np.stack([tetris_voxels(p, grid_size=13, block_size=2) for p in TETRIS_NAMES])
    y = np.arange(len(TETRIS_NAMES))
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x[..., None], training=True))
    grads = tape.gradient(loss, variables)
    before = [np.asarray(v).copy() for v in variables]
    optimizer(lr).apply_gradients(zip(grads, variables))
    return {
        v.path: float(np.median(np.abs(np.asarray(v) - start)) / lr)
        for v, start in zip(variables, before)
        if "coefficients" in v.path
    }


def test_tetris_net_coefficients_take_full_steps():
    # The difference from the paper's code that this optimizer removes. The
    # deeper layers' coefficient gradients are ~1e-5 here (1e-7 at the paper's
    # 20^3-36^3 grids with full padding): Algorithm 1 moves them by about the
    # learning rate (measured >= 0.998), Keras's Adam by 0.62-0.80 of it. The
    # second assertion keeps this test in that regime: if it passed for Keras's
    # Adam too, it would test nothing.
    ours = _coefficient_steps(Adam)
    assert min(ours.values()) > 0.95, ours
    theirs = _coefficient_steps(keras.optimizers.Adam)
    assert min(theirs.values()) < 0.8, theirs
