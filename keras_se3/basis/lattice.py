"""Sampling of the angular-radial fields ``A_{J,m}(x) = Y^J(x/|x|) phi_m(|x|)`` on a grid.

Every basis kernel of every ``(l_in, l_out)`` pair is ``Q^J`` applied to one of
these fields, so this is the one place where the continuous basis meets the grid.
"""

import numpy as np

from keras_se3.so3 import spherical_harmonics


def angular_radial(J, radius, width, points):
    """The analytic field ``Y^J(x/|x|) exp(-(|x| - radius)^2 / 2 width^2)``.

    ``points`` ``[N, 3]`` → ``[N, 2J + 1]``.  At ``x = 0`` only ``J = 0`` is non-zero.
    """
    r = np.linalg.norm(points, axis=-1)
    profile = np.exp(-((r - radius) ** 2) / (2 * width**2))
    return spherical_harmonics(J, points) * profile[:, None]


def sample_on_grid(J, radius, width, points, moment_order=None):
    """The field sampled at the grid ``points`` ``[N, 3]``, optionally moment-corrected."""
    field = angular_radial(J, radius, width, points)
    if moment_order is not None:
        raise NotImplementedError("moment correction: not implemented yet")
    return field
