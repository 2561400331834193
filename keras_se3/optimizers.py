"""`Adam` with epsilon added after the bias correction (Kingma & Ba's Algorithm 1).

Why the package has its own: a steerable net's basis coefficients get very small
gradients (the paper's Tetris net at initialisation: median 1e-7 in its deeper
layers).  ``keras.optimizers.Adam`` adds its epsilon (default 1e-7) to the root
of the *uncorrected* second moment, ``sqrt(v_t)``, which early in training is
``sqrt(1 - beta_2^t)`` times the gradient's size (0.03x at step 1, 0.3x at step
100).  An epsilon of 1e-7 then shrinks those coefficients' steps to a few
percent of the learning rate for the whole of a short run, while the biases and
the classifier (gradients around 1e-3) move at full speed.  The paper's code
(PyTorch's Adam) adds epsilon (1e-8) to ``sqrt(v_t / (1 - beta_2^t))``: every
coefficient with a gradient above 1e-8 steps by about the learning rate.
Trained from the same start, the two updates give the paper's Tetris net
visibly different losses from the first step on (docs/results.md).
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_se3")
class Adam(keras.optimizers.Adam):
    """Adam as in Kingma & Ba (2015), Algorithm 1, and ``torch.optim.Adam``.

    The update is ``lr * m_hat / (sqrt(v_hat) + epsilon)`` with the
    bias-corrected moments ``m_hat = m / (1 - beta_1^t)`` and
    ``v_hat = v / (1 - beta_2^t)``.  ``keras.optimizers.Adam`` computes
    ``lr * m_hat / (sqrt(v_hat) + epsilon / sqrt(1 - beta_2^t))`` instead: the
    same for large gradients, but its epsilon acts ``1 / sqrt(1 - beta_2^t)``
    times larger (31.6x at step 1, 3.2x at step 100, 1.5x at step 250), which
    matters for gradients near epsilon, as a steerable net's basis coefficients
    have (see the module docstring).  Everything else (arguments, schedules,
    ``amsgrad``, weight decay, EMA, loss scaling, saving) is
    ``keras.optimizers.Adam``'s.

    Args:
        learning_rate: float or ``keras.optimizers.schedules`` schedule.
        beta_1, beta_2: decay rates of the first and second moments.
        epsilon: added to ``sqrt(v_hat)``; default 1e-8 (PyTorch's and the Adam
            paper's).
        amsgrad: use the maximum of the past second moments (bias-corrected
            after the maximum, as PyTorch does).
        **kwargs: the base optimizer's arguments (``weight_decay``,
            ``clipnorm``, ``use_ema``, ``name``, ...).

    Example:

    >>> optimizer = Adam(learning_rate=1e-2)
    >>> optimizer.epsilon
    1e-08
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        amsgrad=False,
        name="adam",
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
            name=name,
            **kwargs,
        )

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        # convert_to_tensor with the dtype: ops.cast of a Python float would
        # round it to float32 first (0.999 -> 0.99899999), off by 1e-5 relative
        # in the correction of float64 variables.
        beta_1 = ops.convert_to_tensor(self.beta_1, dtype=dtype)
        beta_2 = ops.convert_to_tensor(self.beta_2, dtype=dtype)
        correction_1 = 1 - ops.power(beta_1, step)
        correction_2 = 1 - ops.power(beta_2, step)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(
            v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2)
        )
        if self.amsgrad:
            v_max = self._velocity_hats[index]
            self.assign(v_max, ops.maximum(v_max, v))
            v = v_max
        root = ops.add(ops.sqrt(ops.divide(v, correction_2)), self.epsilon)
        self.assign_sub(
            variable, ops.divide(ops.multiply(lr, ops.divide(m, correction_1)), root)
        )
