"""Keras layers (keras.ops only)."""

from keras_se3.layers.field_batch_norm import FieldBatchNormalization
from keras_se3.layers.field_concatenate import FieldConcatenate
from keras_se3.layers.field_dropout import FieldDropout
from keras_se3.layers.gate import Gate
from keras_se3.layers.invariant_pooling import InvariantPooling
from keras_se3.layers.low_pass import LowPassDownsampling3D
from keras_se3.layers.norm_activation import NormActivation
from keras_se3.layers.se3_conv3d import SE3Conv3D
from keras_se3.layers.se3_conv3d_transpose import SE3Conv3DTranspose
from keras_se3.layers.se3_gated_conv3d import SE3GatedConv3D
from keras_se3.layers.se3_residual_block import SE3ResidualBlock
from keras_se3.layers.triple_product_pooling import TripleProductPooling

__all__ = [
    "FieldBatchNormalization",
    "FieldConcatenate",
    "FieldDropout",
    "Gate",
    "InvariantPooling",
    "LowPassDownsampling3D",
    "NormActivation",
    "SE3Conv3D",
    "SE3Conv3DTranspose",
    "SE3GatedConv3D",
    "SE3ResidualBlock",
    "TripleProductPooling",
]
