"""SO(3) math (numpy/scipy, build time): rotations, harmonics, Wigner D, Clebsch-Gordan.

This package is pure group maths: it imports nothing else from keras_se3, so
everything else (``FieldType``, the kernel basis, the layers) can build on it.
Rotating feature maps is :mod:`keras_se3.transforms`.
"""

import warnings

from keras_se3.so3.clebsch_gordan import change_of_basis
from keras_se3.so3.rotations import (
    as_matrix,
    cube_rotations,
    cube_symmetries,
    random_rotation,
    rotation_about_axis,
)
from keras_se3.so3.spherical_harmonics import check_order, spherical_harmonics
from keras_se3.so3.wigner import wigner_D

__all__ = [
    "as_matrix",
    "change_of_basis",
    "check_order",
    "cube_rotations",
    "cube_symmetries",
    "random_rotation",
    "rotation_about_axis",
    "spherical_harmonics",
    "wigner_D",
]

# Names that moved out of so3 because they act on feature maps, not on the group.
_MOVED_TO_TRANSFORMS = ("resample_grid", "rotate_grid")


def __getattr__(name):
    # PEP 562: only reached for names not defined above.  The import is deferred
    # so that so3 does not depend on keras_se3.transforms (which builds on so3).
    if name in _MOVED_TO_TRANSFORMS:
        warnings.warn(
            f"keras_se3.so3.{name} is deprecated: it rotates feature maps, not group "
            f"elements, and moved to keras_se3.transforms.{name} (also "
            f"keras_se3.{name}). Import it from there.",
            DeprecationWarning,
            stacklevel=2,
        )
        from keras_se3.transforms import resample_grid, rotate_grid

        return {"resample_grid": resample_grid, "rotate_grid": rotate_grid}[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
