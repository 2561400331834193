"""Docstring examples (doctests): the names they may use without importing them,
and a temporary working directory for the files some of them write."""

import keras
import numpy as np
import pytest

import keras_se3


@pytest.fixture(autouse=True)
def _doctest_names(request):
    if not isinstance(request.node, pytest.DoctestItem):
        return
    namespace = request.getfixturevalue("doctest_namespace")
    namespace.update(np=np, keras=keras, keras_se3=keras_se3)
    # Examples that save a figure write it here, not into the checkout.
    request.getfixturevalue("monkeypatch").chdir(request.getfixturevalue("tmp_path"))
