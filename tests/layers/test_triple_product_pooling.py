"""TripleProductPooling: the triple products' values, their sign under
reflections, the mirror-image Tetris pieces, errors.  (Config, .keras, collapse
and the cube symmetries: tests/layers/test_registered_layers.py.)"""

import keras
import numpy as np
import pytest

from keras_se3 import FieldType
from keras_se3.datasets.tetris_pieces import tetris_voxels
from keras_se3.layers import TripleProductPooling
from keras_se3.models import tetris_net
from keras_se3.so3 import random_rotation
from tests.backend import to_numpy

FIELDS = "2x0 + 3x1 + 1x2 + 1x1"


def _random_input(fields, size=5, batch=2, seed=0):
    dim = FieldType(fields).dim
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, size, size, size, dim)).astype("float32")


def _reference(layer, x):
    """Spatial mean of det[a_k, b_k, c_k], with numpy."""
    channels = FieldType(layer.fields).channels_of_order(1).reshape(-1, 3)
    vectors = x[..., channels].astype("float64")  # [..., n, 3]
    kernel = to_numpy(layer.kernel).astype("float64")  # [n, 3 units]
    mixed = np.einsum("...ni,nk->...ki", vectors, kernel)
    a, b, c = np.split(mixed, 3, axis=-2)  # [..., units, 3] each
    triple = np.linalg.det(np.stack([a, b, c], axis=-1))
    return triple.mean(axis=(1, 2, 3))


def test_values_are_the_mean_triple_products_of_mixed_vectors():
    layer = TripleProductPooling(FIELDS, units=4)
    x = _random_input(FIELDS)
    y = to_numpy(layer(x))
    assert y.shape == (2, 4)
    np.testing.assert_allclose(y, _reference(layer, x), rtol=1e-4, atol=1e-6)


def test_a_mirror_image_changes_the_sign():
    # Mirror x -> -x: the grid flips along axis 0 and every vector's x component
    # changes sign (true vectors); scalars and the l=2 field are not used.
    layer = TripleProductPooling(FIELDS, units=3)
    x = _random_input(FIELDS)
    mirrored = x[:, ::-1].copy()
    x_components = FieldType(FIELDS).channels_of_order(1)[0::3]
    mirrored[..., x_components] *= -1
    np.testing.assert_allclose(
        to_numpy(layer(mirrored)), -to_numpy(layer(x)), rtol=1e-4, atol=1e-6
    )


def test_output_type_follows_the_vectors_parity():
    assert str(TripleProductPooling("3x1", units=2).output_fields) == "2x0"
    assert str(TripleProductPooling("3x1o", units=2).output_fields) == "2x0o"
    assert str(TripleProductPooling("3x1e + 1x0e", units=2).output_fields) == "2x0e"


def _separation(y, count):
    """Per feature: |difference of the two pieces' means| / within-piece std."""
    a, b = y[:count], y[count:]
    spread = np.sqrt((a.var(0) + b.var(0)) / 2) + 1e-30
    return np.abs(a.mean(0) - b.mean(0)) / spread


@pytest.mark.slow  # a tetris_net at 17^3: 26 s on JAX, run on TensorFlow
def test_tells_the_mirror_image_tetris_pieces_apart_at_initialisation():
    # The reason for the layer: an untrained tetris_net's pooled invariants do not
    # tell chiral_1 from its mirror image chiral_2 (docs/results.md) beyond the
    # scatter of random rotations voxelised afresh, the triple products of its
    # second block's vector fields do, by many times that scatter.
    keras.utils.set_random_seed(0)
    net = tetris_net(triple_products=16, input_blur=0.87, lowpass_sigma=1.22)
    features = keras.Model(
        net.input, [net.get_layer("triple").output, net.get_layer("pool").output]
    )
    count = 6
    rotations = random_rotation(count, seed=1)
    grids = [
        tetris_voxels(piece, r, grid_size=17, block_size=3)
        for piece in ("chiral_1", "chiral_2")
        for r in rotations
    ]
    triple, pooled = features(np.stack(grids)[..., None].astype("float32"))
    best_triple = _separation(to_numpy(triple), count).max()
    best_pooled = _separation(to_numpy(pooled), count).max()
    assert best_triple > 5.0 and best_triple > 3 * best_pooled, (
        best_triple,
        best_pooled,
    )


@pytest.mark.parametrize(
    "fields, kwargs, message",
    [
        ("2x1 + 4x0", {}, "at least 3 vector fields"),
        ("2x1o + 1x1e", {}, "both parities"),
        ("3x1", {"units": 0}, "positive integer"),
        ("3x1", {"units": 2.5}, "positive integer"),
    ],
)
def test_bad_arguments_are_clear_errors(fields, kwargs, message):
    with pytest.raises(ValueError, match=message):
        TripleProductPooling(fields, **kwargs)


def test_wrong_channel_count_is_a_clear_error():
    with pytest.raises(ValueError, match="expects fields='3x1'"):
        TripleProductPooling("3x1")(np.zeros((1, 3, 3, 3, 8), "float32"))


def test_tetris_net_refuses_triple_products_with_reflections():
    with pytest.raises(ValueError, match="mirror image"):
        tetris_net(triple_products=4, reflections=True)
