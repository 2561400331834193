"""The paper's networks, an equivariant U-Net, and their plain-CNN baselines, as
functions returning Models."""

from keras_se3.models.cath import cath_cnn, cath_resnet
from keras_se3.models.shrec17 import shrec17_cnn, shrec17_net
from keras_se3.models.tetris import PAPER_CODE_OPTIONS, tetris_cnn, tetris_net
from keras_se3.models.unet import se3_unet, unet_cnn, unet_grid_sizes

__all__ = [
    "PAPER_CODE_OPTIONS",
    "cath_cnn",
    "cath_resnet",
    "se3_unet",
    "shrec17_cnn",
    "shrec17_net",
    "tetris_cnn",
    "tetris_net",
    "unet_cnn",
    "unet_grid_sizes",
]
