"""SO(3) math (numpy/scipy, build time): harmonics, Wigner D, Clebsch-Gordan."""

from keras_se3.so3.clebsch_gordan import change_of_basis
from keras_se3.so3.rotations import (
    as_matrix,
    cube_rotations,
    random_rotation,
    resample_grid,
    rotate_grid,
    rotation_about_axis,
)
from keras_se3.so3.spherical_harmonics import spherical_harmonics
from keras_se3.so3.wigner import wigner_D

__all__ = [
    "as_matrix",
    "change_of_basis",
    "cube_rotations",
    "random_rotation",
    "resample_grid",
    "rotate_grid",
    "rotation_about_axis",
    "spherical_harmonics",
    "wigner_D",
]
