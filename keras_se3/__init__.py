"""keras_se3: SE(3)-equivariant 3D steerable CNNs for Keras."""

from keras_se3 import basis, so3
from keras_se3.field_type import FieldType
from keras_se3.layers import SE3Conv3D

__version__ = "0.1.0"

__all__ = ["FieldType", "SE3Conv3D", "basis", "so3", "__version__"]
