import importlib
import os
import pathlib
import re
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest
from matplotlib.image import imread

from keras_se3 import SE3Conv3D
from keras_se3.plot import (
    basis_on_sphere,
    equivariance_errors,
    plot_basis_kernels,
    plot_equivariance_error,
    plot_field_slice,
)

DPI = 40


def _check_png(path, fig):
    """The file is a PNG of the figure's size in pixels and is not blank."""
    assert path.stat().st_size > 0
    image = imread(path)
    width, height = fig.get_size_inches() * DPI
    assert abs(image.shape[0] - height) <= 1 and abs(image.shape[1] - width) <= 1
    assert np.ptp(image[..., :3]) > 0.1


@pytest.fixture(scope="module")
def conv_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((None, None, None, 1)),
            SE3Conv3D("2x0 + 1x1", 3, in_fields="1x0", bias_initializer="ones"),
        ]
    )


@pytest.fixture(scope="module")
def blob():
    # A smooth input vanishing towards the edge, so that resampling is accurate.
    rng = np.random.default_rng(0)
    c = np.arange(9) - 4.0
    x, y, z = np.meshgrid(c, c, c, indexing="ij")
    envelope = np.exp(-(x**2 + y**2 + z**2) / 8.0)
    noise = rng.normal(size=(9, 9, 9))
    return (envelope * (1 + 0.3 * noise))[None, ..., None].astype("float32")


# --- basis -------------------------------------------------------------------


def test_scalar_basis_is_constant_on_each_shell():
    _, _, values, elements = basis_on_sphere(0, 0, kernel_size=5, resolution=6)
    assert [J for J, _, _ in elements] == [0, 0, 0]
    flat = values.reshape(len(elements), -1)
    np.testing.assert_allclose(flat, flat[:, :1] * np.ones_like(flat), rtol=1e-12)


def test_scalar_to_vector_basis_points_along_the_direction():
    theta, phi, values, elements = basis_on_sphere(0, 1, kernel_size=5, resolution=8)
    assert values.shape == (len(elements), 8, 16, 3, 1)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    direction = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1)
    for kernel in values[..., 0]:
        # J = 1 from a scalar to a Cartesian vector: c * x / |x| for one constant c.
        c = np.sum(kernel * direction) / np.sum(direction**2)
        assert abs(c) > 1e-3
        np.testing.assert_allclose(kernel, c * direction, atol=1e-10)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"order_in": 1, "order_out": 1, "elements": [0, 2, 3]},
        {
            "order_in": 2,
            "order_out": 1,
            "elements": [0, 1],
            "components": [(0, 0), (2, 4)],
        },
        {"order_in": 0, "order_out": 1, "style": "sphere", "resolution": 6},
    ],
)
def test_plot_basis_kernels_writes_an_image(tmp_path, kwargs):
    path = tmp_path / "basis.png"
    kwargs.setdefault("resolution", 8)
    fig = plot_basis_kernels(kernel_size=5, path=path, dpi=DPI, **kwargs)
    _check_png(path, fig)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"style": "globe"}, "style"),
        ({"elements": [7]}, "elements"),
        ({"components": [(3, 0)]}, "components"),
        ({"resolution": 1}, "resolution"),
    ],
)
def test_plot_basis_kernels_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_basis_kernels(1, 1, kernel_size=3, **kwargs)


def test_pair_without_kernels_is_an_error():
    # A 1^3 kernel has only the centre shell, where only J = 0 (j == l) lives.
    with pytest.raises(ValueError, match="no kernels"):
        basis_on_sphere(0, 1, kernel_size=1)


# --- equivariance ------------------------------------------------------------


@pytest.mark.parametrize("axis", [(1, 0, 0), (0, 1, 0), (0, 0, 1)])
def test_conv_layer_is_equivariant_under_grid_rotations(conv_model, axis):
    x = np.random.default_rng(1).normal(size=(2, 9, 9, 9, 1))
    angles, errors = equivariance_errors(
        conv_model,
        x,
        axis=axis,
        angles=[0.0, np.pi / 2, np.pi],
        fields_in="1x0",
        fields_out="2x0 + 1x1",
        region="all",
    )
    np.testing.assert_allclose(angles, [0.0, np.pi / 2, np.pi])
    assert errors.max() < 1e-4


def test_errors_under_other_rotations_are_those_of_the_discretisation(conv_model, blob):
    angles, errors = equivariance_errors(
        conv_model, blob, axis=(1, 1, 0), fields_out="2x0 + 1x1"
    )
    assert len(angles) == 25 and np.isclose(np.rad2deg(angles[-1]), 360)
    assert errors[0] < 1e-6
    assert np.all(np.isfinite(errors)) and 1e-4 < errors[1:-1].max() < 0.5


def test_invariant_model_output_is_compared_unrotated(blob):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((None, None, None, 1)),
            SE3Conv3D("3x0", 3, in_fields="1x0"),
            keras.layers.GlobalAveragePooling3D(),
        ]
    )
    _, errors = equivariance_errors(
        model, blob, axis=(0, 1, 0), angles=np.deg2rad([0, 90, 270])
    )
    assert errors.max() < 1e-4


def test_vector_components_are_rotated():
    x = np.random.default_rng(2).normal(size=(1, 7, 7, 7, 3))
    # The identity is equivariant whatever the rotation (same resampling on
    # both sides); swapping the x and z components is not.
    _, errors = equivariance_errors(
        lambda v: v, x, angles=[0.3, np.pi / 2], fields_in="1x1", fields_out="1x1"
    )
    assert errors.max() < 1e-6
    _, errors = equivariance_errors(
        lambda v: v[..., ::-1],
        x,
        angles=[np.pi / 2],
        fields_in="1x1",
        fields_out="1x1",
    )
    assert errors[0] > 0.1


def test_plot_equivariance_error_writes_an_image(tmp_path, conv_model, blob):
    path = tmp_path / "equivariance.png"
    angles = np.deg2rad([0, 30, 60, 90])
    fig = plot_equivariance_error(
        conv_model, blob, angles=angles, fields_out="2x0 + 1x1", path=path, dpi=DPI
    )
    _check_png(path, fig)
    np.testing.assert_allclose(fig.equivariance_errors["angles"], angles)
    assert fig.equivariance_errors["errors"][3] < 1e-4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"fields_out": "1x1"}, "fields_out"),
        ({"fields_in": "1x1"}, "fields_in"),
        ({"region": "cube"}, "region"),
        ({"angles": []}, "angles"),
    ],
)
def test_equivariance_errors_rejects_bad_arguments(conv_model, blob, kwargs, message):
    with pytest.raises(ValueError, match=message):
        equivariance_errors(conv_model, blob, **kwargs)


def test_equivariance_errors_needs_a_batch_of_grids(conv_model, blob):
    with pytest.raises(ValueError, match="batch, X, Y, Z, C"):
        equivariance_errors(conv_model, blob[0])


# --- field slices --------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, kwargs",
    [
        ("1x0", {}),
        ("1x1", {"axis": "x", "vector_colour": "norm"}),
        ("1x0 + 1x1 + 1x2", {"axis": 1, "index": -2}),
    ],
)
def test_plot_field_slice_writes_an_image(tmp_path, fields, kwargs):
    from keras_se3 import FieldType

    volume = np.random.default_rng(3).normal(size=(1, 7, 8, 9, FieldType(fields).dim))
    path = tmp_path / "slice.png"
    fig = plot_field_slice(volume, fields, path=path, dpi=DPI, **kwargs)
    _check_png(path, fig)
    assert len([ax for ax in fig.axes if ax.get_visible()]) >= len(FieldType(fields))


def test_plot_field_slice_shows_selected_fields():
    volume = np.zeros((5, 5, 5, 5))
    volume[..., 0] = 1.0
    fig = plot_field_slice(volume, "2x0 + 1x1", field_indices=[2])
    titles = [ax.get_title() for ax in fig.axes]
    assert "field 2 (vector)" in titles and "field 0 (scalar)" not in titles


def test_plot_field_slice_draws_an_all_zero_vector_field_without_warnings(tmp_path):
    # A net's prediction can be 0 on a whole slice; Matplotlib's arrow autoscale
    # would divide by zero (RuntimeWarning) and draw nothing sensible.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_field_slice(np.zeros((5, 5, 5, 3)), "1x1", path=tmp_path / "z.png")
    assert "field 0 (vector)" in [ax.get_title() for ax in fig.axes]


def test_plot_field_slice_draws_vectors_at_their_length_with_arrow_scale():
    from matplotlib.quiver import Quiver

    volume = np.zeros((5, 5, 5, 3))
    volume[..., 0] = 2.0  # 2 voxels along x
    fig = plot_field_slice(volume, "1x1", arrow_scale=0.5, arrow_step=1)
    (arrows,) = [c for ax in fig.axes for c in ax.collections if isinstance(c, Quiver)]
    assert arrows.scale == 2.0 and arrows.scale_units == "xy"  # drawn 1 voxel long


@pytest.mark.parametrize(
    "volume_shape, kwargs, message",
    [
        ((5, 5, 5, 4), {"fields": "1x1"}, "channels"),
        ((2, 5, 5, 5, 3), {"fields": "1x1"}, "batch"),
        ((5, 5, 3), {"fields": "1x1"}, r"\[X, Y, Z, C\]"),
        ((5, 5, 5, 1), {"axis": 3}, "axis"),
        ((5, 5, 5, 1), {"axis": "w"}, "axis"),
        ((5, 5, 5, 1), {"index": 5}, "index"),
        ((5, 5, 5, 1), {"index": -6}, "index"),
        ((5, 5, 5, 1), {"field_indices": [1]}, "field_indices"),
        ((5, 5, 5, 3), {"fields": "1x1", "vector_colour": "red"}, "vector_colour"),
        ((5, 5, 5, 3), {"fields": "1x1", "arrow_scale": 0}, "arrow_scale"),
        ((5, 5, 5, 3), {"fields": "1x1", "arrow_scale": "1"}, "arrow_scale"),
    ],
)
def test_plot_field_slice_rejects_bad_input(volume_shape, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_field_slice(np.zeros(volume_shape), **kwargs)


# --- optional dependency ---------------------------------------------------------


def test_missing_matplotlib_gives_an_install_hint(monkeypatch):
    # None in sys.modules makes `import matplotlib` fail as if not installed.
    for name in ("matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "keras_se3.plot._common")
    with pytest.raises(ImportError, match=r"pip install keras-se3\[plot\]"):
        importlib.import_module("keras_se3.plot._common")


def _run_python(code):
    """Run ``code`` in a fresh interpreter (this one has imported everything)."""
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=pathlib.Path(__file__).resolve().parents[2],  # this checkout's keras_se3
        timeout=600,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


@pytest.mark.slow  # a fresh interpreter imports TensorFlow: ~10 s
def test_keras_se3_works_without_matplotlib_and_never_loads_the_plot_module():
    # matplotlib is optional: with it blocked, the package imports and runs, loads
    # no keras_se3.plot module, and keras_se3.plot says how to install it.
    # (A fresh interpreter: this one has imported everything.  Keras itself
    # imports matplotlib when it is installed, hence the block.)
    out = _run_python(
        """
        import sys
        sys.modules["matplotlib"] = None  # as if it were not installed
        import numpy as np
        import keras_se3
        print("file:", keras_se3.__file__)
        print("loaded:", sorted(m for m in sys.modules if "keras_se3.plot" in m))
        layer = keras_se3.SE3Conv3D("1x0", 3, in_fields="1x0")
        print("shape:", tuple(layer(np.zeros((1, 5, 5, 5, 1), "float32")).shape))
        try:
            import keras_se3.plot
        except ImportError as error:
            print("ImportError:", error)
        """
    )
    path = re.search(r"^file: (.*)$", out, re.M).group(1)
    assert pathlib.Path(path).parent.parent == pathlib.Path(__file__).parents[2]
    assert re.search(r"^loaded: \[\]$", out, re.M), out
    assert re.search(r"^shape: \(1, 5, 5, 5, 1\)$", out, re.M), out
    assert re.search(r"^ImportError: .*pip install keras-se3\[plot\]", out, re.M), out
