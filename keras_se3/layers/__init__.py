"""Keras layers (keras.ops only)."""

from keras_se3.layers.se3_conv3d import SE3Conv3D

__all__ = ["SE3Conv3D"]
