"""Argument normalisation and weight initialisers of the steerable convolutions."""

import numpy as np
from keras import ops


def _int_triple(value, minimum, error):
    """``value`` as 3 ints >= ``minimum`` (one int is repeated), or ValueError."""
    values = (value,) * 3 if np.ndim(value) == 0 else tuple(value)
    if len(values) != 3 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum
        for v in values
    ):
        raise ValueError(error)
    return tuple(int(v) for v in values)


def normalize_triple(value, name):
    return _int_triple(
        value, 1, f"`{name}` must be a positive int or 3 positive ints, got {value!r}."
    )


def normalize_padding(padding):
    error = (
        f"`padding` must be 'same', 'valid', or a non-negative int (or 3), "
        f"got {padding!r}."
    )
    if isinstance(padding, str):
        if padding.lower() not in ("same", "valid"):
            raise ValueError(error)
        return padding.lower()
    return _int_triple(padding, 0, error)


def constant_initializer(array):
    def initializer(shape, dtype=None):
        return ops.convert_to_tensor(array, dtype=dtype)

    return initializer


def segmented_initializer(parts):
    """Initializer of the flat coefficients: each pair's own initializer and shape."""

    def initializer(shape, dtype=None):
        values = [ops.reshape(init(part, dtype=dtype), (-1,)) for init, part in parts]
        return ops.concatenate(values)

    return initializer


def ungroup_index(field_type, orders):
    """Gather index from the by-order grouped channel layout to the real one."""
    grouped = np.concatenate([field_type.channels_of_order(l) for l in orders])
    if np.array_equal(grouped, np.arange(field_type.dim)):
        return None
    return np.argsort(grouped)
