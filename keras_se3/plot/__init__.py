"""Plots of steerable kernels, equivariance errors and field slices (matplotlib).

An optional part of the package: it needs matplotlib
(``pip install keras-se3[plot]``) and is not imported by ``import keras_se3``.
Every function builds a ``matplotlib.figure.Figure`` directly, without pyplot,
so it neither selects a backend nor opens windows; it returns the figure and
saves it when given ``path=``.

Example:

>>> from keras_se3.plot import plot_basis_kernels
>>> fig = plot_basis_kernels(0, 1, kernel_size=5, path="basis_0_1.png")
"""

from keras_se3.plot.basis import basis_on_sphere, plot_basis_kernels
from keras_se3.plot.equivariance import equivariance_errors, plot_equivariance_error
from keras_se3.plot.fields import plot_field_slice

__all__ = [
    "basis_on_sphere",
    "equivariance_errors",
    "plot_basis_kernels",
    "plot_equivariance_error",
    "plot_field_slice",
]
