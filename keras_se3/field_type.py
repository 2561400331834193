"""`FieldType`: the irreducible fields that make up a feature map's channels."""

import re

import numpy as np

from keras_se3.so3.wigner import wigner_D

_TERM = re.compile(r"^\s*(?:(\d+)\s*[xX]\s*)?(\d+)\s*([eo]?)\s*$")


class FieldType:
    """A stack of irreducible SO(3) fields over a voxel grid.

    A field of order ``l`` occupies ``2l + 1`` consecutive channels; the fields
    come in the order written.  ``"8x0 + 4x1 + 2x2"`` is 8 scalar fields, then 4
    vector fields (channels x, y, z each), then 2 order-2 fields: 30 channels.

    Args:
        spec: a string like ``"8x0 + 4x1 + 2x2"`` (``"0"`` alone means ``"1x0"``),
            a list of ``(multiplicity, l)`` pairs, or another ``FieldType``.

    Raises:
        ValueError: for an unreadable string, negative or non-integer parts, or an
            empty type.

    Example:

    >>> ft = FieldType("2x0 + 1x1")
    >>> ft.dim, ft.num_fields, str(ft)
    (5, 3, '2x0 + 1x1')
    """

    def __init__(self, spec):
        if isinstance(spec, FieldType):
            terms = spec.terms
        elif isinstance(spec, str):
            terms = self._parse_string(spec)
        else:
            terms = self._parse_pairs(spec)
        # Zero multiplicities carry no channels; drop them so equal types compare equal.
        terms = tuple((mul, l) for mul, l in terms if mul > 0)
        if not terms:
            raise ValueError(
                f"Field type {spec!r} has no fields; give at least one, e.g. '1x0'."
            )
        self._terms = terms

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
                    "'8x0 + 4x1 + 2x2'."
                )
            mul, l, parity = match.groups()
            if parity:
                raise ValueError(
                    f"Parity suffixes ({part.strip()!r}) describe O(3) fields, which "
                    "keras_se3 does not support yet; write orders without 'e'/'o'."
                )
            terms.append((1 if mul is None else int(mul), int(l)))
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
            if isinstance(pair, (str, bytes)) or np.ndim(pair) != 1 or len(pair) != 2:
                raise ValueError(
                    f"Each entry of a field type list must be a (multiplicity, l) "
                    f"pair, got {pair!r}."
                )
            mul, l = pair
            for name, value in (("multiplicity", mul), ("order l", l)):
                if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                    raise ValueError(
                        f"The {name} in {pair!r} must be an integer, got {value!r}."
                    )
                if value < 0:
                    raise ValueError(
                        f"The {name} in {pair!r} must be non-negative, got {value}."
                    )
            terms.append((int(mul), int(l)))
        return terms

    # --- description -----------------------------------------------------------

    @property
    def terms(self):
        """The ``(multiplicity, l)`` pairs, in channel order."""
        return self._terms

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

    def multiplicity(self, l):
        """Total number of fields of order ``l``."""
        return sum(mul for mul, order in self._terms if order == l)

    def channels_of_order(self, l):
        """Channel indices of all fields of order ``l``, in channel order."""
        return np.flatnonzero(self.channel_orders == l)

    def representation(self, rotation):
        """Block-diagonal representation matrix ``D(R)`` ``[..., dim, dim]``."""
        blocks = {l: wigner_D(l, rotation) for l in set(self.field_orders)}
        batch = blocks[self.lmax].shape[:-2]
        out = np.zeros(batch + (self.dim, self.dim))
        for l, piece in zip(self.field_orders, self.slices()):
            out[..., piece, piece] = blocks[l]
        return out

    def simplify(self):
        """The same channels with neighbouring equal orders merged."""
        merged = []
        for mul, l in self._terms:
            if merged and merged[-1][1] == l:
                merged[-1] = (merged[-1][0] + mul, l)
            else:
                merged.append((mul, l))
        return FieldType(merged)

    # --- algebra and identity -------------------------------------------------------

    def __add__(self, other):
        return FieldType(self._terms + FieldType(other).terms)

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
        return self.simplify().terms == other.simplify().terms

    def __hash__(self):
        return hash(self.simplify().terms)

    def __str__(self):
        return " + ".join(f"{mul}x{l}" for mul, l in self._terms)

    def __repr__(self):
        return f"FieldType({str(self)!r})"

    def __iter__(self):
        return iter(self._terms)

    def __len__(self):
        return len(self._terms)
