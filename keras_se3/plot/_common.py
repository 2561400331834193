"""Shared helpers of :mod:`keras_se3.plot`: the matplotlib import and saving."""

try:
    # Figure objects render through their own Agg canvas on savefig, so nothing
    # here needs pyplot or selects a backend: a user's notebook backend is left
    # alone, and headless machines need no display.
    import matplotlib as mpl
    from matplotlib.figure import Figure
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "keras_se3.plot needs matplotlib, which is an optional dependency of "
        "keras-se3; install it with `pip install keras-se3[plot]` (or "
        "`pip install 'matplotlib>=3.7'`)."
    ) from error

__all__ = ["Figure", "component_labels", "finish", "mpl"]


def component_labels(l):
    """Names of the ``2l + 1`` components of an order-``l`` field.

    Order 1 is Cartesian (x, y, z); other orders use the real harmonics'
    ``m = -l .. l`` (see :mod:`keras_se3.so3.spherical_harmonics`).
    """
    if l == 0:
        return [""]
    if l == 1:
        return ["x", "y", "z"]
    return [f"m={m:+d}" for m in range(-l, l + 1)]


def finish(fig, path=None, dpi=None):
    """Save ``fig`` to ``path`` (if given; format from the suffix) and return it."""
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig
