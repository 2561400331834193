"""Real spherical harmonics in the package's fixed basis.

Order 1 uses the Cartesian components ``(x, y, z)`` so that ``D^1(R) = R``.
Every other order uses the standard real harmonics (Condon-Shortley phase)
with components ordered ``m = -l .. l``.  This basis is a convention that saved
models depend on: do not change it.
"""

import numpy as np
from scipy.special import sph_harm_y

_NORMALIZATIONS = ("integral", "component")


def check_order(l):
    """Validate the order ``l`` of an SO(3) representation and return it as an int.

    Args:
        l: the order: a non-negative Python or numpy integer (not a bool).

    Returns:
        ``int(l)``.

    Raises:
        ValueError: if ``l`` is not a non-negative integer.

    Example:

    >>> check_order(np.int64(2))
    2
    """
    if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or l < 0:
        raise ValueError(f"The order `l` must be a non-negative integer, got {l!r}.")
    return int(l)


def spherical_harmonics(l, xyz, normalization="integral"):
    """Real spherical harmonics of order ``l`` at the directions of ``xyz``.

    Args:
        l: non-negative integer order.
        xyz: array of shape ``[..., 3]``: points (only their direction is used).
            A zero vector has no direction: it gets ``Y^0`` and zeros for
            ``l > 0``.
        normalization: ``"integral"`` (orthonormal on the unit sphere) or
            ``"component"`` (``|Y^l(x)|^2 = 2l + 1`` on the sphere).

    Returns:
        float64 array of shape ``[..., 2l + 1]`` with ``Y^l(R x) = D^l(R) Y^l(x)``
        where ``D^l`` is :func:`keras_se3.so3.wigner_D`.
    """
    l = check_order(l)
    if normalization not in _NORMALIZATIONS:
        raise ValueError(
            f"Unknown normalization {normalization!r}; use one of {_NORMALIZATIONS}."
        )
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.shape[-1:] != (3,):
        raise ValueError(
            f"`xyz` must have a last axis of size 3 (x, y, z), got shape {xyz.shape}."
        )
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    rho = np.hypot(x, y)
    # arctan2 keeps the polar angle accurate near the poles (arccos does not).
    theta = np.arctan2(rho, z)
    phi = np.mod(np.arctan2(y, x), 2 * np.pi)
    out = np.empty(xyz.shape[:-1] + (2 * l + 1,))
    for m in range(l + 1):
        ylm = sph_harm_y(l, m, theta, phi)
        if m == 0:
            out[..., l] = ylm.real
        else:
            sign = np.sqrt(2.0) * (-1) ** m
            out[..., l + m] = sign * ylm.real
            out[..., l - m] = sign * ylm.imag
    if l == 1:
        # Standard order is (y, z, x); the package's convention is (x, y, z).
        out = out[..., [2, 0, 1]]
    if l > 0:
        out[np.sum(xyz * xyz, axis=-1) == 0.0] = 0.0
    if normalization == "component":
        out *= np.sqrt(4 * np.pi)
    return out
