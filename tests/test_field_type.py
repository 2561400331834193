import numpy as np
import pytest

from keras_se3 import FieldType, so3


def test_parse_string_and_pairs_agree():
    a = FieldType("8x0 + 4x1 + 2x2")
    b = FieldType([(8, 0), (4, 1), (2, 2)])
    assert a == b
    assert a.dim == 8 + 12 + 10
    assert a.num_fields == 14
    assert a.lmax == 2
    assert str(a) == "8x0 + 4x1 + 2x2"
    assert FieldType(str(a)) == a
    assert FieldType("3") == FieldType("1x3")
    assert FieldType(" 2X1+1x0 ").terms == ((2, 1), (1, 0))


def test_slices_and_channel_maps():
    ft = FieldType("1x0 + 1x1 + 2x0")
    assert ft.slices() == [slice(0, 1), slice(1, 4), slice(4, 5), slice(5, 6)]
    np.testing.assert_array_equal(ft.channel_orders, [0, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(ft.channel_fields, [0, 1, 1, 1, 2, 3])
    np.testing.assert_array_equal(ft.channels_of_order(0), [0, 4, 5])
    assert ft.multiplicity(0) == 3


def test_concatenation_and_equality():
    ft = FieldType("2x0") + "1x1" + [(1, 1)]
    assert ft == "2x0 + 2x1"
    assert str(ft) == "2x0 + 1x1 + 1x1"
    assert ft.simplify().terms == ((2, 0), (2, 1))
    assert hash(ft) == hash(FieldType("2x0 + 2x1"))
    assert FieldType("1x0 + 1x1") != FieldType("1x1 + 1x0")
    assert FieldType("1x0") != "not a type"


def test_representation_is_block_diagonal_homomorphism(rng):
    ft = FieldType("1x0 + 1x1 + 1x2 + 1x1")
    r1, r2 = so3.random_rotation(2, seed=3)
    d1, d2 = ft.representation(r1), ft.representation(r2)
    np.testing.assert_allclose(ft.representation(r1 @ r2), d1 @ d2, atol=1e-12)
    np.testing.assert_allclose(d1[1:4, 1:4], r1, atol=1e-15)
    np.testing.assert_allclose(d1[9:12, 9:12], r1, atol=1e-15)
    assert np.all(d1[1:4, 4:] == 0)
    batch = ft.representation(np.stack([r1, r2]))
    np.testing.assert_allclose(batch[1], d2, atol=1e-15)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("8x0 + ", "Cannot read"),
        ("8y0", "Cannot read"),
        ("-1x0", "Cannot read"),
        ("1x1o", "Parity"),
        ("", "Empty"),
        ("0x1", "no fields"),
        ([(1, -1)], "non-negative"),
        ([(1.5, 0)], "integer"),
        ([(1, 0, 2)], "pair"),
        (3.0, "string like"),
    ],
)
def test_bad_types_raise_clear_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        FieldType(spec)
