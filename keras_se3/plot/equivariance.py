"""Equivariance error of a model as a function of the rotation angle."""

import numpy as np

from keras_se3.field_type import FieldType
from keras_se3.plot._common import Figure, finish
from keras_se3.so3 import rotation_about_axis
from keras_se3.transforms import resample_grid, rotate_grid

_REGIONS = ("ball", "all")


def _call(model, x):
    """``model(x)`` in inference mode, as a float64 numpy array."""
    import keras

    if isinstance(model, keras.Layer):  # keras.Model is a Layer too
        y = model(x, training=False)
    else:
        y = model(x)
    return np.asarray(keras.ops.convert_to_numpy(y), dtype=np.float64)


def _is_cube_rotation(matrix, shape):
    # rotate_grid is exact but needs a signed permutation and a cubic grid.
    return np.allclose(matrix, np.rint(matrix), atol=1e-9) and len(set(shape)) == 1


def _rotate(grid, matrix, field_type, order):
    if _is_cube_rotation(matrix, grid.shape[1:4]):
        return rotate_grid(grid, np.rint(matrix) + 0.0, field_type)
    return resample_grid(grid, matrix, field_type, order=order)


def _ball_mask(shape):
    """Voxels inside the ball inscribed in the grid: the only region a rotation
    about the centre maps into the grid (corners are lost to resampling)."""
    axes = [np.arange(n) - (n - 1) / 2 for n in shape]
    coords = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    radius = (min(shape) - 1) / 2
    return np.linalg.norm(coords, axis=-1) <= radius + 1e-9


def equivariance_errors(
    model,
    inputs,
    axis=(0, 0, 1),
    angles=None,
    fields_in=None,
    fields_out=None,
    region="ball",
    order=3,
):
    """Relative equivariance error of ``model`` under rotations about ``axis``.

    For each angle ``a`` with ``R = rotation_about_axis(axis, a)``:

    * invariant output (``fields_out=None``, e.g. class logits):
      ``|model(R x) - model(x)| / |model(x)|``;
    * field output (``fields_out`` given, output ``[batch, X, Y, Z, C]``):
      ``|model(R x) - R model(x)| / |R model(x)|``, where ``R`` rotates the grid
      and transforms the channels by ``fields_out``'s ``D(R)``.

    Norms are taken over the whole batch.  Rotations that map the voxel grid
    onto itself (multiples of 90 degrees about a coordinate axis, on a cubic
    grid) use :func:`keras_se3.transforms.rotate_grid`, which is exact; all others
    resample with splines (:func:`keras_se3.transforms.resample_grid`), so their error
    includes the interpolation error of the grid, not only the model's.  For
    those, use smooth inputs that vanish outside the inscribed ball.

    Args:
        model: a Keras model or layer, or any callable on a batch array.
        inputs: array ``[batch, X, Y, Z, C]``.
        axis: rotation axis (3-vector, need not be unit length).
        angles: angles in radians; default every 15 degrees from 0 to 360.
        fields_in: field type of the input channels (string, list of pairs or
            ``FieldType``); None: every channel is a scalar.
        fields_out: field type of a spatial output; None: the output is
            compared unrotated (invariant models).
        region: for field outputs, ``"ball"`` compares only voxels inside the
            ball inscribed in the output grid (a rotated grid's corners come
            from outside the original grid); ``"all"`` compares every voxel.
        order: spline order for resampled (non-grid) rotations.

    Returns:
        ``(angles, errors)``: float64 arrays ``[n_angles]`` (radians; relative
        errors).

    Raises:
        ValueError: for inputs that are not ``[batch, X, Y, Z, C]``, channel
            counts that do not match ``fields_in``/``fields_out``, or an
            unknown ``region``.

    Example:

    >>> from keras_se3 import SE3Conv3D
    >>> layer = SE3Conv3D("2x0 + 1x1", 3, in_fields="1x0")
    >>> x = np.random.default_rng(0).normal(size=(1, 9, 9, 9, 1))
    >>> angles, errors = equivariance_errors(
    ...     layer, x, angles=[0, np.pi / 2], fields_out="2x0 + 1x1")
    >>> bool(errors.max() < 1e-4)
    True
    """
    if region not in _REGIONS:
        raise ValueError(f"Unknown region {region!r}; use one of {_REGIONS}.")
    inputs = np.asarray(inputs, dtype=np.float32)
    if inputs.ndim != 5:
        raise ValueError(
            f"`inputs` must be a [batch, X, Y, Z, C] array, got shape {inputs.shape}."
        )
    if fields_in is not None and FieldType(fields_in).dim != inputs.shape[-1]:
        raise ValueError(
            f"`fields_in` {FieldType(fields_in)} has {FieldType(fields_in).dim} "
            f"channels but the inputs have {inputs.shape[-1]}."
        )
    angles = (
        np.deg2rad(np.arange(0, 361, 15.0))
        if angles is None
        else np.atleast_1d(np.asarray(angles, dtype=np.float64))
    )
    if angles.ndim != 1 or angles.size == 0:
        raise ValueError(f"`angles` must be a non-empty 1D list, got {angles!r}.")
    reference = _call(model, inputs)
    if fields_out is not None:
        ftype = FieldType(fields_out)
        if reference.ndim != 5 or reference.shape[-1] != ftype.dim:
            raise ValueError(
                f"With `fields_out` {ftype} the model must return a [batch, X, Y, Z, "
                f"{ftype.dim}] array, got shape {reference.shape}; use "
                "fields_out=None for an invariant output."
            )
        mask = (
            _ball_mask(reference.shape[1:4])
            if region == "ball"
            else np.ones(reference.shape[1:4], dtype=bool)
        )
    errors = np.empty(len(angles))
    for index, angle in enumerate(angles):
        matrix = rotation_about_axis(axis, angle)
        rotated = _rotate(inputs, matrix, fields_in, order).astype(np.float32)
        output = _call(model, rotated)
        if fields_out is None:
            expected = reference
        else:
            expected = _rotate(reference, matrix, fields_out, order)
            output, expected = output[:, mask], expected[:, mask]
        scale = np.linalg.norm(expected)
        difference = np.linalg.norm(output - expected)
        # A model that outputs zeros is equivariant; avoid 0 / 0.
        errors[index] = difference / scale if scale > 0 else difference
    return angles, errors


def plot_equivariance_error(
    model,
    inputs,
    axis=(0, 0, 1),
    angles=None,
    fields_in=None,
    fields_out=None,
    region="ball",
    order=3,
    log_scale=True,
    title=None,
    figsize=(6.0, 3.5),
    path=None,
    dpi=100,
):
    """Plot the relative equivariance error of ``model`` against rotation angle.

    The errors are those of :func:`equivariance_errors` (see there for the
    arguments ``model`` .. ``order``).  Angles where the rotation maps the
    voxel grid onto itself (e.g. multiples of 90 degrees about a coordinate
    axis, of 120 degrees about a cube diagonal) are marked: those rotations
    are exact, so an equivariant network's error there is at float precision;
    elsewhere the error also contains the grid's discretisation and the
    resampling error.

    Args:
        model, inputs, axis, angles, fields_in, fields_out, region, order: as
            in :func:`equivariance_errors`.
        log_scale: logarithmic error axis (errors span many decades); exact
            zeros are drawn at 1e-12.
        title: figure title; default names the axis.
        figsize: figure size in inches.
        path: if given, the figure is saved there (format from the suffix).
        dpi: resolution of the saved file.

    Returns:
        The ``matplotlib.figure.Figure``; the numbers are in
        ``fig.equivariance_errors``, a dict with ``angles`` (radians) and
        ``errors``.

    Example:

        fig = plot_equivariance_error(
            model, x, axis=(1, 1, 0), fields_in="1x0", path="equivariance.png")
        worst = fig.equivariance_errors["errors"].max()
    """
    angles, errors = equivariance_errors(
        model, inputs, axis, angles, fields_in, fields_out, region, order
    )
    degrees = np.rad2deg(angles)
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    shown = np.maximum(errors, 1e-12) if log_scale else errors
    ax.plot(degrees, shown, marker="o", markersize=3, label="error")
    if log_scale:
        ax.set_yscale("log")
    # Rotations that map the grid onto itself were applied exactly: there the
    # error is the model's alone, and an equivariant network is at float level.
    exact = np.array(
        [
            _is_cube_rotation(rotation_about_axis(axis, angle), np.shape(inputs)[1:4])
            for angle in angles
        ]
    )
    if exact.any():
        ax.plot(
            degrees[exact],
            shown[exact],
            linestyle="none",
            marker="s",
            markersize=6,
            markerfacecolor="none",
            color="C3",
            label="exact grid rotation",
        )
        ax.legend(fontsize=8)
    ax.set_xlabel("rotation angle (degrees)")
    ax.set_ylabel("relative equivariance error")
    axis_label = ", ".join(f"{v:g}" for v in np.asarray(axis, dtype=float))
    kind = (
        "invariant output" if fields_out is None else f"output {FieldType(fields_out)}"
    )
    ax.set_title(title or f"Rotations about ({axis_label}), {kind}", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    # Keep the numbers with the picture so a caller need not recompute them.
    fig.equivariance_errors = {"angles": angles, "errors": errors}
    return finish(fig, path, dpi)
