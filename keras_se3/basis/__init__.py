"""Steerable kernel bases (numpy, build time)."""

from keras_se3.basis.config import (
    BANDLIMITS,
    PRESETS,
    BasisConfig,
    get_basis_config,
    serialize_basis,
)
from keras_se3.basis.kernel_basis import (
    basis_elements,
    basis_size,
    evaluate_basis,
    grid_points,
    kernel_basis,
    normalize_kernel_size,
    normalize_spacing,
)

__all__ = [
    "BANDLIMITS",
    "PRESETS",
    "BasisConfig",
    "basis_elements",
    "basis_size",
    "evaluate_basis",
    "get_basis_config",
    "grid_points",
    "kernel_basis",
    "normalize_kernel_size",
    "normalize_spacing",
    "serialize_basis",
]
