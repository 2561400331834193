"""Tests on whichever Keras backend the suite runs: arrays and gradients.

``np.asarray`` fails on a PyTorch tensor that requires grad (every eager layer
output there): :func:`to_numpy` converts any backend's tensor. ``tf.GradientTape``
exists only on TensorFlow: :func:`gradients` computes the same numbers with
``jax.grad`` (through a ``keras.StatelessScope``, so that the layers' variables
become arguments) or ``torch.autograd.grad``.
"""

import keras
import numpy as np


def to_numpy(x, dtype=None):
    """A numpy array of ``x``: a backend tensor, an array, a number or a list."""
    if isinstance(x, (list, tuple)):
        return np.asarray([to_numpy(e) for e in x], dtype)
    if isinstance(x, (np.ndarray, np.generic, int, float)):
        return np.asarray(x, dtype)
    return np.asarray(keras.ops.convert_to_numpy(x), dtype)


def gradients(loss_fn, inputs=(), variables=()):
    """Gradients of a scalar ``loss_fn(*inputs)``.

    Args:
        loss_fn: returns a scalar tensor from backend tensors of ``inputs``.
        inputs: arrays to differentiate with respect to (passed to ``loss_fn``).
        variables: Keras variables (or a callable returning them, for layers that
            build in the first call) to differentiate with respect to.

    Returns:
        ``(input_gradients, variable_gradients)``: two lists of float64 numpy
        arrays; an input or variable the loss does not depend on gets ``None``.
    """
    inputs = [keras.ops.convert_to_tensor(x) for x in inputs]
    loss_fn(*inputs)  # build the layers, so their variables exist
    if callable(variables):
        variables = variables()
    variables = list(variables)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        grads = _tensorflow(loss_fn, inputs, variables)
    elif backend == "jax":
        grads = _jax(loss_fn, inputs, variables)
    elif backend == "torch":
        grads = _torch(loss_fn, inputs, variables)
    else:
        raise NotImplementedError(f"no gradients for the {backend!r} backend")
    grads = [None if g is None else _numpy(g) for g in grads]
    return grads[: len(inputs)], grads[len(inputs) :]


def _numpy(tensor):
    return np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(tensor, "float64")))


def _tensorflow(loss_fn, inputs, variables):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(inputs)
        loss = loss_fn(*inputs)
    return tape.gradient(loss, [*inputs, *(v.value for v in variables)])


def _jax(loss_fn, inputs, variables):
    import jax

    def loss(input_values, variable_values):
        mapping = list(zip(variables, variable_values))
        with keras.StatelessScope(state_mapping=mapping):
            return loss_fn(*input_values)

    values = [v.value for v in variables]
    input_grads, variable_grads = jax.grad(loss, argnums=(0, 1))(inputs, values)
    # jax gives zeros where TensorFlow and torch say "not connected".
    return [*input_grads, *variable_grads]


def _torch(loss_fn, inputs, variables):
    import torch

    inputs = [x.detach().clone().requires_grad_(True) for x in inputs]
    loss = loss_fn(*inputs)
    return torch.autograd.grad(
        loss, [*inputs, *(v.value for v in variables)], allow_unused=True
    )
