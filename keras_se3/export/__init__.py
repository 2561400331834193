"""Collapse trained keras_se3 models to stock Keras layers; SavedModel / ONNX export.

- :func:`collapse` -- a copy of a model made of Keras built-in layers only.
- :func:`to_saved_model`, :func:`to_onnx` -- export (collapsed by default), with
  an optional check of the exported artefact against the Keras model.
- ``keras-se3 export`` -- the command line (:mod:`keras_se3.export.cli`).
"""

from keras_se3.export.collapse import collapse
from keras_se3.export.exporters import ExportCheckError, to_onnx, to_saved_model

__all__ = ["ExportCheckError", "collapse", "to_onnx", "to_saved_model"]
