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
        ("1x0e + 1x1", "mixes SO"),
        ("1x1 + 2x0o", "mixes SO"),
        ("1x1p", "Cannot read"),
        ("", "Empty"),
        ("0x1", "no fields"),
        ([(1, -1)], "non-negative"),
        ([(1.5, 0)], "integer"),
        ([(1, 0, 2)], "parity in"),
        ([(1, 0, "x")], "parity in"),
        ([(1, 0, True)], "parity in"),
        ([(1, 0, 1, 1)], "pair"),
        (3.0, "string like"),
    ],
)
def test_bad_types_raise_clear_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        FieldType(spec)


def test_o3_types_parse_print_and_compare():
    ft = FieldType("2x0e + 1x1o + 1x1e + 1x0o")
    assert ft.has_parity and not FieldType("2x0 + 1x1").has_parity
    assert ft.irreps == ((2, 0, 1), (1, 1, -1), (1, 1, 1), (1, 0, -1))
    assert ft.terms == ((2, 0), (1, 1), (1, 1), (1, 0))  # orders, as for SO(3)
    assert ft.parities == (1, -1, 1, -1)
    np.testing.assert_array_equal(ft.field_parities, [1, 1, -1, 1, -1])
    np.testing.assert_array_equal(FieldType("2x0 + 1x1").field_parities, [1, 1, 1])
    # The invariant scalars: even ones (a pseudo-scalar changes sign).
    np.testing.assert_array_equal(ft.scalar_fields, [0, 1])
    np.testing.assert_array_equal(ft.scalar_channels, [0, 1])
    np.testing.assert_array_equal(FieldType("1x1 + 2x0").scalar_fields, [1, 2])
    assert ft.dim == 9 and str(ft) == "2x0e + 1x1o + 1x1e + 1x0o"
    assert (
        FieldType(str(ft))
        == ft
        == FieldType([(2, 0, "e"), (1, 1, -1), (1, 1, 1), (1, 0, "o")])
    )
    # Parity is part of the type: vectors, pseudo-vectors and SO(3) vectors differ.
    assert len({FieldType("1x1o"), FieldType("1x1e"), FieldType("1x1")}) == 3
    assert FieldType("1x1o + 1x1o").simplify().irreps == ((2, 1, -1),)
    assert FieldType("1x1o + 1x1e").simplify() == "1x1o + 1x1e"
    assert FieldType("1x0e") + "2x1o" == "1x0e + 2x1o"
    with pytest.raises(ValueError, match="mixes SO"):
        FieldType("1x0e") + "1x1"


@pytest.mark.parametrize("spec", ["2x0 + 1x1 + 1x0", "1x0e + 1x1o + 2x1e + 1x0o"])
def test_a_type_rebuilt_from_its_terms_is_the_same_type(spec):
    # Iterating gives the constructor's terms, parities included for O(3) types.
    ft = FieldType(spec)
    assert FieldType(list(ft)) == ft and str(FieldType(list(ft))) == spec
    assert len(ft) == len(list(ft)) == spec.count("+") + 1


def test_o3_representation_is_a_homomorphism_with_the_papers_parities():
    ft = FieldType("1x0e + 1x0o + 1x1o + 1x1e + 1x2e + 1x2o")
    g = so3.cube_symmetries()
    assert sorted(np.round(np.linalg.det(g)).tolist()) == [-1] * 24 + [1] * 24
    rng = np.random.default_rng(0)
    reflections = (
        so3.random_rotation(4, seed=1) * np.array([-1, 1, 1, -1])[:, None, None]
    )
    g = np.concatenate([g, reflections, so3.random_rotation(4, seed=2)])
    d = ft.representation(g)
    det = np.linalg.det(g)
    for i, j in rng.integers(0, len(g), size=(20, 2)):
        np.testing.assert_allclose(
            ft.representation(g[i] @ g[j]), d[i] @ d[j], atol=1e-12
        )
    np.testing.assert_allclose(d[:, 0, 0], 1)  # scalar
    np.testing.assert_allclose(d[:, 1, 1], det)  # pseudo-scalar
    np.testing.assert_allclose(d[:, 2:5, 2:5], g, atol=1e-15)  # vector: g
    np.testing.assert_allclose(d[:, 5:8, 5:8], det[:, None, None] * g, atol=1e-15)
    # The inversion -1 multiplies each field by its parity.
    np.testing.assert_allclose(
        np.diag(ft.representation(-np.eye(3))),
        [1, -1] + [-1] * 3 + [1] * 3 + [1] * 5 + [-1] * 5,
    )
    # Rotations act on O(3) fields as on SO(3) fields of the same orders.
    r = so3.random_rotation(seed=4)
    np.testing.assert_allclose(
        ft.representation(r), FieldType("2x0 + 2x1 + 2x2").representation(r), atol=1e-15
    )


def test_reflections_need_parities():
    with pytest.raises(ValueError, match="SO\\(3\\) type: it has no representation"):
        FieldType("1x1").representation(np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(ValueError, match="orthogonal"):
        FieldType("1x1o").representation(2 * np.eye(3))
