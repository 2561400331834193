"""Every layer keras_se3 registers, through the same checks.

In the spirit of Keras's ``run_layer_test``: each registered layer class (the
``keras_se3>`` entries of Keras's serialization registry) has examples below, and
each example is built, called, round-tripped through its config and a ``.keras``
file, collapsed to stock Keras layers, and checked exactly under the symmetries
of the cube (24 rotations; 48 with reflections for O(3) types), with the input
and output transformed by the layer's own ``input_fields`` / ``output_fields``.
A new layer gets these checks by being registered: the first test fails until it
has an example here.
"""

import dataclasses
from collections.abc import Callable

import keras
import numpy as np
import pytest

from keras_se3 import FieldType, so3
from keras_se3.export.exporters import relative_error
from keras_se3.layers import (
    FieldBatchNormalization,
    FieldConcatenate,
    FieldDropout,
    Gate,
    InvariantPooling,
    LowPassDownsampling3D,
    NormActivation,
    SE3Conv3D,
    SE3Conv3DTranspose,
    SE3GatedConv3D,
    SE3ResidualBlock,
    TripleProductPooling,
)
from keras_se3.layers.field_layer import FieldLayer
from keras_se3.transforms import rotate_grid
from tests.backend import to_numpy
from tests.layer_checks import (
    assert_stock_only,
    randomize_weights,
    update_bn_statistics,
)

#: Relative error allowed (float32): collapse, and the symmetries of the cube.
TOL = 1e-5


@dataclasses.dataclass(frozen=True)
class Example:
    """One configuration of a layer and the input grid it runs on."""

    id: str
    make: Callable[[], keras.layers.Layer]
    size: int  # of the cubic input grid; sizes where strided grids stay centred
    #: The field type of a layer that takes any channels (input_fields None).
    fields: str | None = None
    #: Training calls before the checks (moving statistics of batch norms).
    steps: int = 0


EXAMPLES = {
    FieldConcatenate: [
        Example("two", lambda: FieldConcatenate(["1x0 + 1x1", "1x2 + 1x0"]), 5),
        Example("o3-three", lambda: FieldConcatenate(["1x1o", "1x0e", "1x1e"]), 4),
    ],
    SE3Conv3D: [
        Example(
            "padded", lambda: SE3Conv3D("1x0 + 1x1", 3, in_fields="1x1", padding=2), 6
        ),
        Example("strided", lambda: SE3Conv3D("2x0", 3, in_fields="1x0", strides=2), 7),
        Example(
            "o3", lambda: SE3Conv3D("1x0e + 1x0o + 1x1o", 3, in_fields="1x0e + 1x1e"), 5
        ),
    ],
    SE3Conv3DTranspose: [
        Example(
            "up",
            lambda: SE3Conv3DTranspose("1x0 + 1x1", 3, in_fields="2x0", strides=2),
            4,
        ),
        Example(
            "o3-valid",
            lambda: SE3Conv3DTranspose(
                "1x0e + 1x1o", 3, in_fields="2x0e", strides=2, padding="valid"
            ),
            4,
        ),
    ],
    Gate: [
        Example("so3", lambda: Gate("2x0 + 1x1 + 1x2"), 4),
        Example("o3", lambda: Gate("1x0e + 1x0o + 1x1o + 1x1e"), 4),
    ],
    NormActivation: [
        Example(
            "so3", lambda: NormActivation("1x0 + 1x1 + 1x2", activation="softplus"), 4
        ),
        Example(
            "o3", lambda: NormActivation("1x0e + 1x0o + 1x1e", activation="softplus"), 4
        ),
    ],
    InvariantPooling: [
        Example("max", lambda: InvariantPooling("1x1 + 2x0", mode="max"), 4),
        Example("o3", lambda: InvariantPooling("1x1o + 1x0o + 1x0e"), 4),
    ],
    TripleProductPooling: [
        Example("so3", lambda: TripleProductPooling("1x0 + 3x1 + 1x2", units=2), 5),
        # 1o vectors: pseudo-scalars (0o), which change sign under reflections.
        Example("o3", lambda: TripleProductPooling("4x1o + 1x0e", units=3), 5),
    ],
    FieldBatchNormalization: [
        Example("so3", lambda: FieldBatchNormalization("1x0 + 1x1"), 4, steps=2),
        Example(
            "o3", lambda: FieldBatchNormalization("1x0e + 1x0o + 1x1e"), 4, steps=2
        ),
    ],
    FieldDropout: [Example("so3", lambda: FieldDropout("1x0 + 1x1", 0.5), 4)],
    LowPassDownsampling3D: [
        Example("gaussian", lambda: LowPassDownsampling3D(2), 9, fields="1x0e + 1x1o"),
        Example(
            "average", lambda: LowPassDownsampling3D(2, "average"), 8, fields="1x2"
        ),
    ],
    SE3GatedConv3D: [
        Example(
            "strided-bn",
            lambda: SE3GatedConv3D(
                "1x0 + 1x1", 3, in_fields="2x0", batch_norm=True, strides=2
            ),
            7,
            steps=2,
        ),
    ],
    SE3ResidualBlock: [
        Example(
            "average",
            lambda: SE3ResidualBlock(
                "1x0 + 1x1",
                3,
                in_fields="2x0",
                strides=2,
                downsampling="average",
                batch_norm=True,
            ),
            8,
            steps=2,
        ),
        Example(
            "o3",
            lambda: SE3ResidualBlock(
                "1x0e + 1x0o + 1x1o",
                3,
                in_fields="1x0e + 1x1e",
                strides=2,
                batch_norm=True,
            ),
            7,
            steps=2,
        ),
    ],
}

CASES = [
    pytest.param(example, id=f"{cls.__name__}-{example.id}")
    for cls, examples in EXAMPLES.items()
    for example in examples
]


def registered_layers():
    """The layer classes keras_se3 registers for serialization."""
    return {
        cls
        for name, cls in keras.saving.get_custom_objects().items()
        if name.startswith("keras_se3>")
        and isinstance(cls, type)
        and issubclass(cls, keras.layers.Layer)
    }


def test_every_registered_layer_has_examples_and_the_field_layer_base():
    registered = registered_layers()
    assert SE3Conv3D in registered and Gate in registered
    missing = sorted(cls.__name__ for cls in registered - set(EXAMPLES))
    assert not missing, f"registered layers without an example here: {missing}"
    for cls in registered:
        assert issubclass(cls, FieldLayer), cls
        assert cls.to_stock_keras is not FieldLayer.to_stock_keras, cls


def _types(layer, example):
    """The layer's input and output field types (the example's for any-channel
    layers).  Every example names its ``in_fields``: inferred ones exist only
    after the build."""
    if layer.input_fields is None:
        fields = FieldType(example.fields)
        return fields, fields
    return layer.input_fields, layer.output_fields


@pytest.fixture
def built(request, rng):
    """``(example, layer, model, x, y)``: a built layer with non-trivial weights
    and moving statistics, an input ``x`` and its inference output ``y``."""
    example = request.param
    keras.utils.set_random_seed(6)
    layer = example.make()
    in_type = _types(layer, example)[0]
    # A layer of several inputs (FieldConcatenate) gets lists of them.
    several = isinstance(in_type, list)
    shapes = [(2,) + (example.size,) * 3 + (t.dim,) for t in _listed(in_type)]
    inputs = [keras.Input(shape[1:]) for shape in shapes]
    inputs = inputs if several else inputs[0]
    model = keras.Model(inputs, layer(inputs))
    randomize_weights(model, rng)
    update_bn_statistics(model, shapes[0], rng, steps=example.steps)
    x = [rng.normal(size=shape).astype("float32") for shape in shapes]
    x = x if several else x[0]
    y = to_numpy(layer(x, training=False))
    return example, layer, model, x, y


def _listed(value):
    """``value`` as a list (the inputs of a layer of one or several inputs)."""
    return value if isinstance(value, list) else [value]


def _shape(x, batch=True):
    """The shape of ``x``, or the list of shapes of a list of inputs."""
    shapes = [tuple(a.shape) if batch else tuple(a.shape[1:]) for a in _listed(x)]
    return shapes if isinstance(x, list) else shapes[0]


def _first(x):
    """The first example of the batch ``x`` (of each input)."""
    return [a[:1] for a in x] if isinstance(x, list) else x[:1]


@pytest.mark.parametrize("built", CASES, indirect=True)
def test_shapes_and_field_roles(built):
    example, layer, _, x, y = built
    in_type, out_type = _types(layer, example)
    for part, t in zip(_listed(x), _listed(in_type)):
        assert part.shape[-1] == t.dim
    assert y.shape[-1] == out_type.dim
    assert y.shape == tuple(layer.compute_output_shape(_shape(x)))


@pytest.mark.parametrize("built", CASES, indirect=True)
def test_config_round_trip(built):
    _, layer, _, x, y = built
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone.build(_shape(x))
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(to_numpy(clone(x, training=False)), y)


@pytest.mark.parametrize("built", CASES, indirect=True)
def test_keras_file_round_trip(built, tmp_path):
    _, layer, model, x, y = built
    model.save(tmp_path / "layer.keras")
    loaded = keras.saving.load_model(tmp_path / "layer.keras")
    assert type(loaded.layers[-1]) is type(layer)
    np.testing.assert_allclose(
        to_numpy(loaded(x, training=False)), y, rtol=0, atol=1e-6
    )


@pytest.mark.parametrize("built", CASES, indirect=True)
def test_collapses_to_stock_keras(built):
    """Its export hook, which :func:`keras_se3.collapse` calls for it."""
    _, layer, _, x, y = built
    stock = layer.to_stock_keras()
    assert_stock_only(stock)
    assert stock.name == layer.name
    assert relative_error([y], [to_numpy(stock(x))]) <= TOL
    # Named after `name` when given, every layer too.
    renamed = layer.to_stock_keras(_shape(x, batch=False), name="renamed")
    assert renamed.name == "renamed"
    names = [
        inner.name
        for inner in renamed.layers
        if not isinstance(inner, keras.layers.InputLayer)
    ]
    assert all(name.startswith("renamed") for name in names), names


@pytest.mark.parametrize("built", CASES, indirect=True)
def test_exact_under_the_symmetries_of_the_cube(built):
    """``layer(g x) = g layer(x)`` for the 24 cube rotations, and the 24
    rotation-reflections too for O(3) types, in one batched call."""
    example, layer, _, x, y = built
    in_type, out_type = _types(layer, example)
    parity = any(t.has_parity for t in _listed(in_type))
    group = so3.cube_symmetries() if parity else so3.cube_rotations()
    x = _first(x)
    y = y[:1]
    moved = [
        np.concatenate([rotate_grid(part, g, t) for g in group])
        for part, t in zip(_listed(x), _listed(in_type))
    ]
    moved = moved if isinstance(x, list) else moved[0]
    out = to_numpy(layer(moved, training=False))
    for i, g in enumerate(group):
        if y.ndim == 2:  # invariant features: only the fields' representation
            expected = y @ out_type.representation(g).T
        else:
            expected = rotate_grid(y, g, out_type)
        assert relative_error([expected], [out[i : i + 1]]) <= TOL, (i, g.tolist())
