"""`FieldType`: the irreducible fields that make up a feature map's channels."""

import re

import numpy as np

from keras_se3.so3.rotations import as_matrix
from keras_se3.so3.wigner import wigner_D

_TERM = re.compile(r"^\s*(?:(\d+)\s*[xX]\s*)?(\d+)\s*([eo]?)\s*$")


#: Parity suffix -> parity ``p`` (the sign of the field under the inversion -1).
_PARITIES = {"e": 1, "o": -1}
_SUFFIXES = {1: "e", -1: "o"}


class FieldType:
    """A stack of irreducible SO(3) or O(3) fields over a voxel grid.

    A field of order ``l`` occupies ``2l + 1`` consecutive channels; the fields
    come in the order written.  ``"8x0 + 4x1 + 2x2"`` is 8 scalar fields, then 4
    vector fields (channels x, y, z each), then 2 order-2 fields: 30 channels.

    **O(3) types** (rotations and reflections) give every term a parity, in
    e3nn's notation: ``"8x0e + 4x1o + 2x1e"`` is 8 scalars, 4 vectors and 2
    pseudo-vectors; ``0o`` is a pseudo-scalar.  An element ``g`` of O(3) acts on
    a field of order ``l`` and parity ``p`` (``e``: +1, ``o``: -1) by
    ``D(g) = d^n D^l(d g)`` with ``d = det(g)`` and ``n = 0`` for ``e``, 1 for
    ``o``: ``d g`` is ``g``'s rotation part, and the inversion ``-1`` multiplies
    the field by ``p``.  So ``1o`` fields transform as plain vectors
    (``D(g) = g``) and ``1e`` fields as pseudo-vectors (``D(g) = det(g) g``).
    Terms without a suffix are SO(3) fields; one type cannot mix the two.

    Args:
        spec: a string like ``"8x0 + 4x1 + 2x2"`` or ``"8x0e + 4x1o"`` (``"0"``
            alone means ``"1x0"``), a list of ``(multiplicity, l)`` pairs or of
            ``(multiplicity, l, parity)`` triples (parity ``"e"``/``"o"`` or
            +1/-1), or another ``FieldType``.

    Raises:
        ValueError: for an unreadable string, negative or non-integer parts, a
            type that mixes terms with and without parity, or an empty type.

    Example:

    >>> ft = FieldType("2x0 + 1x1")
    >>> ft.dim, ft.num_fields, str(ft)
    (5, 3, '2x0 + 1x1')
    >>> FieldType("2x0e + 1x1o").field_parities
    array([ 1,  1, -1])
    """

    def __init__(self, spec):
        if isinstance(spec, FieldType):
            triples = spec.irreps
        elif isinstance(spec, str):
            triples = self._parse_string(spec)
        else:
            triples = self._parse_pairs(spec)
        with_parity = {p is not None for _, _, p in triples}
        if len(with_parity) > 1:
            raise ValueError(
                f"Field type {spec!r} mixes SO(3) terms (no parity) with O(3) terms "
                "(suffix 'e' or 'o'): give every term a parity, e.g. '4x0e + 2x1o', "
                "or none."
            )
        # Zero multiplicities carry no channels; drop them so equal types compare equal.
        triples = tuple((mul, l, p) for mul, l, p in triples if mul > 0)
        if not triples:
            raise ValueError(
                f"Field type {spec!r} has no fields; give at least one, e.g. '1x0'."
            )
        self._terms = tuple((mul, l) for mul, l, _ in triples)
        self._parities = tuple(p for _, _, p in triples)

    @staticmethod
    def _parse_string(spec):
        if not spec.strip():
            raise ValueError("Empty field type string; write e.g. '8x0 + 4x1 + 2x2'.")
        terms = []
        for part in spec.split("+"):
            match = _TERM.match(part)
            if match is None:
                raise ValueError(
                    f"Cannot read {part.strip()!r} in field type {spec!r}: each term "
                    "is 'MULTIPLICITYxORDER' with non-negative integers, e.g. "
                    "'8x0 + 4x1 + 2x2', with a parity suffix for O(3) fields, e.g. "
                    "'8x0e + 4x1o'."
                )
            mul, l, parity = match.groups()
            terms.append(
                (1 if mul is None else int(mul), int(l), _PARITIES.get(parity))
            )
        return terms

    @staticmethod
    def _parse_pairs(spec):
        try:
            pairs = list(spec)
        except TypeError:
            raise ValueError(
                f"A field type is a string like '8x0 + 4x1' or a list of "
                f"(multiplicity, l) pairs, got {spec!r}."
            ) from None
        terms = []
        for pair in pairs:
            wrong_kind = isinstance(pair, (str, bytes)) or np.ndim(pair) != 1
            if wrong_kind or len(pair) not in (2, 3):
                raise ValueError(
                    f"Each entry of a field type list must be a (multiplicity, l) "
                    f"pair or a (multiplicity, l, parity) triple, got {pair!r}."
                )
            mul, l, parity = (*pair, None) if len(pair) == 2 else pair
            parity = _PARITIES.get(parity, parity)
            if parity is not None and (
                isinstance(parity, bool) or parity not in (1, -1)
            ):
                raise ValueError(
                    f"The parity in {pair!r} must be 'e' (+1), 'o' (-1) or None "
                    f"(SO(3)), got {pair[2]!r}."
                )
            for name, value in (("multiplicity", mul), ("order l", l)):
                if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                    raise ValueError(
                        f"The {name} in {pair!r} must be an integer, got {value!r}."
                    )
                if value < 0:
                    raise ValueError(
                        f"The {name} in {pair!r} must be non-negative, got {value}."
                    )
            terms.append((int(mul), int(l), None if parity is None else int(parity)))
        return terms

    # --- description -----------------------------------------------------------

    @property
    def terms(self):
        """The ``(multiplicity, l)`` pairs, in channel order (see :attr:`irreps`)."""
        return self._terms

    @property
    def has_parity(self):
        """Whether this is an O(3) type (every term has a parity)."""
        return self._parities[0] is not None

    @property
    def parities(self):
        """Each term's parity (+1 ``e``, -1 ``o``; None for an SO(3) type)."""
        return self._parities

    @property
    def irreps(self):
        """The ``(multiplicity, l, parity)`` triples (parity None for SO(3))."""
        return tuple((mul, l, p) for (mul, l), p in zip(self._terms, self._parities))

    @property
    def field_parities(self):
        """Parity of each field, in channel order (int array ``[num_fields]``;
        all +1 for an SO(3) type, whose fields do not see reflections)."""
        return np.array(
            [
                p or 1
                for (mul, _), p in zip(self._terms, self._parities)
                for _ in range(mul)
            ],
            dtype=int,
        )

    @property
    def dim(self):
        """Number of channels."""
        return sum(mul * (2 * l + 1) for mul, l in self._terms)

    @property
    def num_fields(self):
        """Number of irreducible fields (sum of multiplicities)."""
        return sum(mul for mul, _ in self._terms)

    @property
    def lmax(self):
        return max(l for _, l in self._terms)

    @property
    def field_orders(self):
        """Order ``l`` of each field, in channel order (int array ``[num_fields]``)."""
        return np.array([l for mul, l in self._terms for _ in range(mul)], dtype=int)

    @property
    def channel_fields(self):
        """Index of the field each channel belongs to (int array ``[dim]``)."""
        return np.repeat(np.arange(self.num_fields), 2 * self.field_orders + 1)

    @property
    def channel_orders(self):
        """Order ``l`` of the field each channel belongs to (int array ``[dim]``)."""
        return self.field_orders[self.channel_fields]

    def slices(self):
        """One ``slice`` of channels per field, in order."""
        out, start = [], 0
        for l in self.field_orders:
            out.append(slice(start, start + 2 * l + 1))
            start += 2 * l + 1
        return out

    def multiplicity(self, l, parity=None):
        """Total number of fields of order ``l`` (and of ``parity``, if given)."""
        return sum(
            mul
            for mul, order, p in self.irreps
            if order == l and (parity is None or p == parity)
        )

    def channels_of_order(self, l):
        """Channel indices of all fields of order ``l``, in channel order."""
        return np.flatnonzero(self.channel_orders == l)

    def irrep_keys(self):
        """The distinct ``(l, parity)`` of the fields, sorted by ``l``, even
        before odd (parity None for an SO(3) type: one key per order)."""
        keys = {(l, p) for _, l, p in self.irreps}
        return sorted(keys, key=lambda key: (key[0], -(key[1] or 0)))

    def channels_of(self, l, parity=None):
        """Channel indices of the fields of order ``l`` and ``parity`` (all of
        order ``l`` if None), in channel order."""
        fields = self.field_orders == l
        if parity is not None:
            fields &= self.field_parities == parity
        return np.flatnonzero(fields[self.channel_fields])

    @property
    def scalar_channels(self):
        """Channels of the invariant scalars: order 0, parity even or none (a
        pseudo-scalar ``0o`` changes sign under reflections: no bias there)."""
        return self.channels_of(0, 1 if self.has_parity else None)

    @property
    def scalar_fields(self):
        """Indices of the invariant scalar fields (order 0, parity even or none):
        the fields of :attr:`scalar_channels`."""
        return np.flatnonzero((self.field_orders == 0) & (self.field_parities > 0))

    def representation(self, rotation):
        """Block-diagonal representation matrix ``D(g)`` ``[..., dim, dim]``.

        Args:
            rotation: a rotation ``[3, 3]`` (or a batch ``[..., 3, 3]``, or a
                ``scipy.spatial.transform.Rotation``); for an O(3) type also any
                orthogonal matrix, reflections included.

        Raises:
            ValueError: for a matrix with determinant -1 and an SO(3) type (its
                fields have no parity to say how they reflect).
        """
        matrix = as_matrix(rotation, allow_reflections=True)
        det = np.sign(np.linalg.det(matrix))[..., None, None]
        if not self.has_parity and np.any(det < 0):
            raise ValueError(
                f"{self!r} is an SO(3) type: it has no representation of a "
                "reflection (determinant -1). Give its terms parities, e.g. "
                "'8x0e + 4x1o', to act with O(3)."
            )
        proper = det * matrix  # the rotation part
        blocks = {l: wigner_D(l, proper) for l in set(self.field_orders)}
        batch = blocks[self.lmax].shape[:-2]
        out = np.zeros(batch + (self.dim, self.dim))
        for l, p, piece in zip(self.field_orders, self.field_parities, self.slices()):
            # det^n with n = 1 for odd fields: +1 for rotations, p for -1.
            out[..., piece, piece] = blocks[l] * (det if p < 0 else 1.0)
        return out

    def simplify(self):
        """The same channels with neighbouring equal orders (and parities) merged."""
        merged = []
        for mul, l, p in self.irreps:
            if merged and merged[-1][1:] == (l, p):
                merged[-1] = (merged[-1][0] + mul, l, p)
            else:
                merged.append((mul, l, p))
        return FieldType(merged)

    # --- algebra and identity -------------------------------------------------------

    def __add__(self, other):
        return FieldType(self.irreps + FieldType(other).irreps)

    def __radd__(self, other):
        return FieldType(other) + self

    def __eq__(self, other):
        if isinstance(other, (str, list, tuple)):
            try:
                other = FieldType(other)
            except ValueError:
                return False
        if not isinstance(other, FieldType):
            return NotImplemented
        # Equal channel layouts are equal types, however the terms were grouped.
        return self.simplify().irreps == other.simplify().irreps

    def __hash__(self):
        return hash(self.simplify().irreps)

    def __str__(self):
        return " + ".join(
            f"{mul}x{l}{_SUFFIXES.get(p, '')}" for mul, l, p in self.irreps
        )

    def __repr__(self):
        return f"FieldType({str(self)!r})"

    def __iter__(self):
        # The terms as the constructor takes them, so that FieldType(list(ft)) is
        # ft: (multiplicity, l) pairs, with the parity for O(3) types.
        return iter(self.irreps if self.has_parity else self._terms)

    def __len__(self):
        return len(self._terms)
