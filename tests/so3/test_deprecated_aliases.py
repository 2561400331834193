"""`keras_se3.so3.rotate_grid` / `resample_grid` moved to `keras_se3.transforms`."""

import warnings

import numpy as np
import pytest

from keras_se3 import so3, transforms


@pytest.mark.parametrize("name", ["rotate_grid", "resample_grid"])
def test_old_spelling_warns_with_the_new_place_and_still_works(name):
    with pytest.warns(DeprecationWarning, match=rf"keras_se3\.transforms\.{name}") as w:
        old = getattr(so3, name)
    assert old is getattr(transforms, name)
    # stacklevel points the warning at the caller, not at keras_se3.so3.
    assert w[0].filename == __file__
    grid = np.random.default_rng(0).normal(size=(1, 4, 4, 4, 3))
    rotation = so3.cube_rotations()[5]
    np.testing.assert_allclose(
        old(grid, rotation, "1x1"),
        transforms.rotate_grid(grid, rotation, "1x1"),
        atol=1e-9,
    )


def test_from_import_of_the_old_spelling_warns():
    with pytest.warns(
        DeprecationWarning, match=r"keras_se3\.transforms\.resample_grid"
    ):
        from keras_se3.so3 import resample_grid
    assert resample_grid is transforms.resample_grid


def test_so3_public_names_do_not_warn_and_unknown_names_still_fail():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in so3.__all__:
            assert callable(getattr(so3, name))
    assert "rotate_grid" not in so3.__all__
    with pytest.raises(
        AttributeError, match="'keras_se3.so3' has no attribute 'rotat'"
    ):
        so3.rotat  # noqa: B018
