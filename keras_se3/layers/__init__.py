"""Keras layers (keras.ops only)."""

from keras_se3.layers.se3_conv3d import SE3Conv3D
from keras_se3.layers.se3_conv3d_transpose import SE3Conv3DTranspose

__all__ = ["SE3Conv3D", "SE3Conv3DTranspose"]
