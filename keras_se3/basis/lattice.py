"""Grid sampling of the angular-radial fields ``A_{J,m}(x) = Y^J(x/|x|) phi_m(|x|)``.

Every basis kernel of every ``(l_in, l_out)`` pair is ``Q^J`` applied to one of
these fields, so this is the one place where the continuous basis meets the grid.

Moment correction
-----------------
Convolved with a smooth input ``f``, a kernel acts through its spatial moments:
``sum_y K(y) f(x + y) = sum_n (1/n!) M_n . grad^n f(x)`` with
``M_n = sum_y K(y) (x) y^{(x) n}``.  The layer is equivariant to order ``n`` in
the input's frequency when every ``M_n`` is an equivariant tensor.  For a kernel
``Q^J A(y)`` (``Q^J`` an intertwiner) and the decomposition of ``y^{(x) n}`` into
``|y|^n Y^L(y/|y|)``, ``L = n, n - 2, ...``, this is a condition on the field
alone: the matrices

    H_{n,L} = sum_y A(y) [|y|^n Y^L(y/|y|)]^T        ([2J+1, 2L+1])

must be intertwiners of ``D^J`` and ``D^L``: zero for ``L != J``, a multiple of the
identity for ``L = J``.  The analytic field satisfies this for the continuous
integral; point samples on a cubic grid do not (the cube group splits ``D^J`` for
``J >= 2`` and has invariants of order 4, 6, ...).  :func:`moment_correct` makes
the least change (Euclidean norm over the samples) to the sampled field that
satisfies all these linear conditions for ``n <= order``.

The space of allowed fields is mapped onto itself by the 24 cube rotations
(``A(y) -> D^J(g) A(g^-1 y)`` on a cubic grid), and the correction is the orthogonal
projection onto it, so it commutes with them: a field that is exactly
cube-equivariant on the grid stays exactly cube-equivariant.  The projection
is a unique linear map (no sign or basis choice), so the result is
deterministic.
"""

import functools

import numpy as np

from keras_se3.so3 import spherical_harmonics


def angular_radial(J, radius, width, points):
    """The analytic field ``Y^J(x/|x|) exp(-(|x| - radius)^2 / 2 width^2)``.

    ``points`` ``[N, 3]`` → ``[N, 2J + 1]``.  At ``x = 0`` only ``J = 0`` is non-zero.
    """
    r = np.linalg.norm(points, axis=-1)
    profile = np.exp(-((r - radius) ** 2) / (2 * width**2))
    return spherical_harmonics(J, points) * profile[:, None]


def moment_features(points, order):
    """The polynomials ``|y|^n Y^L(y/|y|)`` for ``n <= order``, ``L = n, n-2, ...``.

    Returns a list of ``(n, L, values [N, 2L + 1])``.  Each one is scaled by
    ``1 / max|y|^n`` (a constant per ``n``) to keep the constraints well
    conditioned; scaling does not change the conditions.
    """
    points = np.asarray(points, dtype=np.float64)
    r = np.linalg.norm(points, axis=-1)
    scale = max(float(r.max()), 1.0)
    out = []
    for n in range(order + 1):
        radial = (r / scale) ** n
        for L in range(n % 2, n + 1, 2):
            out.append((n, L, spherical_harmonics(L, points) * radial[:, None]))
    return out


def moment_constraints(J, points, order):
    """Matrix ``C`` ``[n_conditions, N (2J + 1)]``: ``C @ field.ravel() = 0`` iff the
    moments of ``field`` ``[N, 2J + 1]`` up to ``order`` are those of an equivariant
    kernel (see the module docstring).  Rows may be linearly dependent.
    """
    dim = 2 * J + 1
    n_points = len(points)
    rows = []
    for _, L, values in moment_features(points, order):
        # H[a, b] = sum_y A[y, a] values[y, b]; row (a, b) has values[:, b] at a.
        block = np.zeros((dim, 2 * L + 1, n_points, dim))
        for a in range(dim):
            block[a, :, :, a] = values.T
        if L == J:
            # Only the traceless part is constrained: subtract the mean diagonal.
            trace = np.einsum("aayc->yc", block) / dim
            for a in range(dim):
                block[a, a] -= trace
        rows.append(block.reshape(-1, n_points * dim))
    return np.concatenate(rows, axis=0)


#: Relative singular-value cut-off of the constraint matrices.  On a grid some
#: polynomial conditions are exact combinations of others (e.g. ``x^3 = x`` on a
#: 3^3 kernel); such dependent rows give singular values at round-off level.
RANK_TOLERANCE = 1e-10


def _orthonormal_rows(matrix):
    """Orthonormal basis (rows) of the row space of ``matrix``."""
    if matrix.size == 0:
        return np.zeros((0, matrix.shape[1]))
    _, s, vt = np.linalg.svd(matrix, full_matrices=False)
    return vt[: int(np.sum(s > s[0] * RANK_TOLERANCE))] if s[0] > 0 else vt[:0]


@functools.lru_cache(maxsize=128)
def _constraint_projector(J, points_key, order):
    """The forbidden directions as two orthogonal pieces ``(W, V)``.

    ``W`` ``[f, N]``: orthonormal basis of the features ``|y|^n Y^L`` with ``L != J``
    (every component of the field must be orthogonal to them).  ``V`` ``[r, N d]``:
    orthonormal traceless ``L = J`` conditions, taken orthogonal to ``W``.  Same
    null space as :func:`moment_constraints`, much cheaper than its SVD.
    """
    points = np.frombuffer(points_key[0]).reshape(points_key[1])
    n_points, dim = len(points), 2 * J + 1
    features = moment_features(points, order)
    other = [v for _, L, v in features if L != J]
    w = _orthonormal_rows(
        np.concatenate(other, axis=1).T if other else np.zeros((0, n_points))
    )
    rows = []
    for _, L, values in features:
        if L != J:
            continue
        values = values - w.T @ (w @ values)
        # Row (a, b): the field whose component a is values[:, b], minus the trace.
        block = np.zeros((dim, dim, n_points, dim))
        for a in range(dim):
            block[a, :, :, a] = values.T
        trace = np.einsum("aayc->yc", block) / dim
        for a in range(dim):
            block[a, a] -= trace
        rows.append(block.reshape(-1, n_points * dim))
    v = _orthonormal_rows(
        np.concatenate(rows, axis=0) if rows else np.zeros((0, n_points * dim))
    )
    return w, v


def moment_correct(field, points, order):
    """The least change of ``field`` ``[N, 2J+1]`` whose moments up to ``order`` are
    those of an equivariant kernel (orthogonal projection; see module docstring).
    """
    field = np.asarray(field, dtype=np.float64)
    points = np.ascontiguousarray(points, dtype=np.float64)
    J = (field.shape[1] - 1) // 2
    w, v = _constraint_projector(J, (points.tobytes(), points.shape), int(order))
    field = field - w.T @ (w @ field)
    flat = field.ravel()
    return (flat - v.T @ (v @ flat)).reshape(field.shape)


#: A correction may not remove more than this fraction of a field's norm: when the
#: grid is too coarse for the requested order (e.g. order 4 for ``J = 2`` on a
#: 3^3 kernel, where it would remove the field entirely), a lower order is used.
MIN_KEPT_NORM = 0.5


def sample_on_grid(J, radius, width, points, moment_order=None):
    """The field sampled at the grid ``points`` ``[N, 3]``, optionally moment-corrected.

    With ``moment_order = N`` the point samples are changed as little as possible
    so that the kernel's spatial moments up to order ``n`` are those of a
    rotation-equivariant kernel (see the module docstring), where ``n`` is the
    highest order ``<= N`` whose correction keeps at least :data:`MIN_KEPT_NORM`
    of the field's norm (a coarse grid cannot carry high moments of every field;
    on 5^3 and larger kernels the default order is kept for every field of the
    default basis).  Use :func:`moment_correct` for a fixed order.
    """
    field = angular_radial(J, radius, width, points)
    if moment_order is None:
        return field
    norm = np.linalg.norm(field)
    for order in range(int(moment_order), -1, -1):
        corrected = moment_correct(field, points, order)
        if np.linalg.norm(corrected) >= MIN_KEPT_NORM * norm:
            return corrected
    return field


def effective_moment_order(J, radius, width, points, moment_order):
    """The order :func:`sample_on_grid` corrects the field to (``None``: none)."""
    if moment_order is None:
        return None
    field = angular_radial(J, radius, width, points)
    norm = np.linalg.norm(field)
    for order in range(int(moment_order), -1, -1):
        if np.linalg.norm(moment_correct(field, points, order)) >= MIN_KEPT_NORM * norm:
            return order
    return None
