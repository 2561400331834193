"""Argument normalisation and weight initialisers of the steerable convolutions."""

import keras
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
        return _as_numpy(array, dtype)

    return initializer


def segmented_initializer(parts):
    """Initializer of the flat coefficients: each pair's own initializer and shape."""

    def initializer(shape, dtype=None):
        if keras.backend.backend() == "jax" and all(map(_unseeded_normal, parts)):
            return _one_normal_draw(parts, dtype)
        values = [ops.reshape(init(part, dtype=dtype), (-1,)) for init, part in parts]
        return ops.concatenate(values)

    return initializer


def _unseeded_normal(part):
    init = part[0]
    return (
        type(init) is keras.initializers.RandomNormal
        and init.mean == 0.0
        and init.get_config()["seed"] is None  # not seeded by the user
    )


def _one_normal_draw(parts, dtype):
    """The default coefficients drawn together: N(0, 1) times each pair's stddev.

    JAX compiles a program for every new shape it draws, 0.1-0.3 s each: one draw
    per pair (97 for ``tetris_net``) made building a model take 37 s there, and
    one draw per layer still 8.6 s for ``cath_resnet`` (2.8 s in chunks of one
    size). The distribution is the same; the values differ from the per-pair
    draws, as they differ between backends anyway.  TensorFlow keeps the per-pair
    draws, so seeds recorded there keep their values.
    """
    scales = np.concatenate(
        [np.full(int(np.prod(shape)), init.stddev) for init, shape in parts]
    )
    # The first pair's seed: drawn from Python's generator when the initializer
    # was made, so keras.utils.set_random_seed makes it reproducible.
    generator = keras.random.SeedGenerator(parts[0][0].seed)
    chunks = [
        ops.convert_to_numpy(keras.random.normal((_CHUNK,), seed=generator))
        for _ in range(-(-scales.size // _CHUNK))
    ]
    return _as_numpy(np.concatenate(chunks)[: scales.size] * scales, dtype)


#: Size of one draw of ``_one_normal_draw``.
_CHUNK = 4096


def _as_numpy(array, dtype):
    """``array`` cast in numpy, for a variable to take as it is: JAX compiles a
    conversion program for every new shape of a tensor it is given."""
    dtype = keras.backend.standardize_dtype(dtype or keras.config.floatx())
    if dtype == "bfloat16":  # not a dtype numpy knows by this name
        return ops.convert_to_tensor(array, dtype=dtype)
    return np.asarray(array, dtype=dtype)


def ungroup_index(field_type, keys):
    """Gather index from the grouped channel layout (by ``(l, parity)`` key, as
    :meth:`FieldType.irrep_keys`) to the real one."""
    grouped = np.concatenate([field_type.channels_of(l, p) for l, p in keys])
    if np.array_equal(grouped, np.arange(field_type.dim)):
        return None
    return np.argsort(grouped)
