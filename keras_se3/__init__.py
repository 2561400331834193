"""keras_se3: SE(3)-equivariant 3D steerable CNNs for Keras."""

from keras_se3 import basis, optimizers, so3, transforms
from keras_se3.export import collapse
from keras_se3.field_type import FieldType
from keras_se3.layers import (
    FieldBatchNormalization,
    FieldConcatenate,
    FieldDropout,
    Gate,
    InvariantPooling,
    LowPassDownsampling3D,
    NormActivation,
    SE3Conv3D,
    SE3Conv3DTranspose,
    SE3GatedConv3D,
    SE3ResidualBlock,
    TripleProductPooling,
)
from keras_se3.transforms import resample_grid, rotate_grid

__version__ = "0.1.0"

__all__ = [
    "FieldBatchNormalization",
    "FieldConcatenate",
    "FieldDropout",
    "FieldType",
    "Gate",
    "InvariantPooling",
    "LowPassDownsampling3D",
    "NormActivation",
    "SE3Conv3D",
    "SE3Conv3DTranspose",
    "SE3GatedConv3D",
    "SE3ResidualBlock",
    "TripleProductPooling",
    "basis",
    "collapse",
    "optimizers",
    "resample_grid",
    "rotate_grid",
    "so3",
    "transforms",
    "__version__",
]
