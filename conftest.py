"""Names every docstring example may use without importing them (doctests)."""

import keras
import numpy as np
import pytest

import keras_se3


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    doctest_namespace.update(np=np, keras=keras, keras_se3=keras_se3)
