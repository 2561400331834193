"""The 8 Tetris pieces of Weiler et al. (2018), section 5.1, and their voxelisation.

A piece is a union of 4 unit cubes (coordinates in a 4^3 box).  On the grid each
cube is a ``block_size^3`` block of voxels.  A voxel's value is the fraction of its
volume inside the (rotated) piece, estimated on a symmetric ``s^3`` sub-voxel
lattice: the piece's *geometry* is rotated and re-voxelised, nothing is resampled.
In the canonical orientation the cube faces lie on voxel faces, so the grid is exactly
0/1 blocks; for the 24 cube rotations the result equals
:func:`keras_se3.transforms.rotate_grid` of the canonical grid bit for bit.

``style="box"`` keeps the equal cubes but centres the 4^3 box instead of the
piece, as the paper's code places its pieces (off the grid centre, so that a
rotation about the grid centre also moves them).  ``style="paper_code"`` makes
the pieces as the paper's code does: the 4^3
occupancy grid is zoomed by ``scipy.ndimage.zoom(order=0)`` to ``4 * block_size``
voxels, which aligns the box's corner voxels and so makes the cubes *unequal*
(2, 4, 4, 2 voxels wide for a 12-voxel box; 4, 6, 6, 4 for the paper's 20), and
the box (not the piece) is centred in the grid.  The 8 pieces then differ in
volume (48 to 96 voxels for a 12-voxel box), which the paper does not describe:
their mass and second moments alone tell all 8 apart, the two chiral pieces
included (``benchmarks/tetris_invariants.py``).
"""

import numpy as np

# Cube coordinates of the pieces (as in the paper's code).
TETRIS_PIECES = {
    "chiral_1": ((0, 0, 0), (0, 0, 1), (1, 0, 0), (1, 1, 0)),
    "chiral_2": ((0, 1, 0), (0, 1, 1), (1, 1, 0), (1, 0, 0)),
    "square": ((0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0)),
    "line": ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 0, 3)),
    "corner": ((0, 0, 0), (0, 0, 1), (0, 1, 0), (1, 0, 0)),
    "L": ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 0)),
    "T": ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 1)),
    "zigzag": ((0, 0, 0), (1, 0, 0), (1, 1, 0), (2, 1, 0)),
}
TETRIS_NAMES = tuple(TETRIS_PIECES)
STYLES = ("centred", "box", "paper_code")


def cell_edges(block_size, style="centred"):
    """Voxel coordinates of the 5 faces of the 4 cells along one axis of the box.

    ``"centred"`` and ``"box"``: equal cubes, ``0, b, 2b, 3b, 4b``.
    ``"paper_code"``: the cells that ``scipy.ndimage.zoom(order=0)`` of a 4-cell
    axis to ``4b`` voxels makes.
    """
    b = int(block_size)
    if style in ("centred", "box"):
        return np.arange(5) * b
    if style == "paper_code":
        from scipy.ndimage import zoom

        cell_of_voxel = zoom(np.arange(4.0), 4 * b / 4, order=0)
        return np.concatenate([np.searchsorted(cell_of_voxel, np.arange(4)), [4 * b]])
    raise ValueError(f"Unknown style {style!r}; expected one of {STYLES}.")


def piece_offset(piece, grid_size, block_size, style="centred"):
    """Translation ``t`` (voxel units) from the box's corner to the grid centre.

    The piece occupies ``block_size * cube - t`` for its cubes; ``t`` is the centre
    of the piece's mass (``style="centred"``) or of its 4^3 box (otherwise),
    rounded so that the cube faces fall on voxel faces (``t - n/2`` is an
    integer), hence within half a voxel of the grid centre.
    """
    if style == "centred":
        cubes = np.asarray(TETRIS_PIECES[piece], dtype=np.float64)
        centre = (cubes + 0.5).mean(axis=0) * block_size
    else:
        centre = np.full(3, 2.0 * block_size)
    half = grid_size / 2
    return np.floor(centre - half + 0.5) + half


def piece_centroid(
    piece,
    rotation=None,
    *,
    grid_size=37,
    block_size=5,
    style="centred",
    offset=None,
):
    """Exact centre of mass of the piece that :func:`tetris_voxels` voxelises.

    The analytic centroid of the continuous piece (its cubes weighted by their
    volumes, which differ for ``style="paper_code"``), not of the voxel grid,
    placed as :func:`tetris_voxels` places the piece for the same arguments:
    ``R (c - t0) + offset`` with ``c`` the centroid in the box's frame and ``t0``
    = :func:`piece_offset`.  The fit checks of :func:`tetris_voxels` are not made.

    Args:
        piece: a name in :data:`TETRIS_NAMES`.
        rotation: ``[3, 3]`` rotation matrix, or None for the canonical orientation.
        grid_size: voxels per axis ``n``.
        block_size: voxels per cube edge.
        style: as for :func:`tetris_voxels`.
        offset: ``[3]`` translation in voxels, or None.

    Returns:
        A float64 array ``[3]``: (x, y, z) in voxels from the grid centre, along
        the array axes (voxel ``i``'s centre is at ``i - (n - 1) / 2``).

    Raises:
        ValueError: for an unknown piece or style.

    Example::

        piece_centroid("line", grid_size=17, block_size=3)  # [0, 0, -0.5]
    """
    if piece not in TETRIS_PIECES:
        raise ValueError(f"Unknown Tetris piece {piece!r}; known: {TETRIS_NAMES}.")
    edges = cell_edges(block_size, style).astype(np.float64)
    cubes = np.asarray(TETRIS_PIECES[piece])
    middles = ((edges[:-1] + edges[1:]) / 2)[cubes]  # [4, 3] cube centres
    volumes = np.prod(np.diff(edges)[cubes], axis=1)  # [4]
    centre = (middles * volumes[:, None]).sum(axis=0) / volumes.sum()
    x = centre - piece_offset(piece, grid_size, block_size, style)
    if rotation is not None:
        x = np.asarray(rotation, dtype=np.float64) @ x
    if offset is not None:
        x = x + np.asarray(offset, dtype=np.float64)
    return x


def piece_radius(piece, block_size=5, style="centred"):
    """Radius of a piece's bounding sphere about its centroid, in voxels.

    The distance from :func:`piece_centroid` to the farthest cube corner: the
    piece stays inside this sphere in every orientation, which is what placing
    pieces that must not overlap whatever their rotation needs.

    Args:
        piece: a name in :data:`TETRIS_NAMES`.
        block_size: voxels per cube edge.
        style: as for :func:`tetris_voxels`.

    Returns:
        A float.

    Example::

        piece_radius("line", block_size=1)  # sqrt(0.5^2 + 0.5^2 + 2^2) = 2.12
    """
    if piece not in TETRIS_PIECES:
        raise ValueError(f"Unknown Tetris piece {piece!r}; known: {TETRIS_NAMES}.")
    edges = cell_edges(block_size, style).astype(np.float64)
    cubes = np.asarray(TETRIS_PIECES[piece])
    corners = np.array(
        [[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=np.int64
    )
    points = edges[(cubes[:, None, :] + corners).reshape(-1, 3)]  # [32, 3]
    # The centroid in the box's frame: piece_centroid is relative to the grid
    # centre, i.e. shifted by piece_offset.
    centre = piece_centroid(
        piece, grid_size=1, block_size=block_size, style=style
    ) + piece_offset(piece, 1, block_size, style)
    return float(np.linalg.norm(points - centre, axis=-1).max())


def tetris_voxels(
    piece,
    rotation=None,
    *,
    grid_size=37,
    block_size=5,
    supersampling=3,
    style="centred",
    offset=None,
):
    """Voxelise a Tetris piece, optionally rotated about the grid centre and shifted.

    Computes ``f'(x) = f(R^-1 (x - t))`` for the piece's indicator function ``f``
    (rotated by ``R`` about the grid centre, then translated by ``t``), averaged
    over a ``supersampling^3`` lattice inside each voxel: its partial volume.

    Args:
        piece: a name in :data:`TETRIS_NAMES`.
        rotation: ``[3, 3]`` rotation matrix, or None for the canonical orientation.
        grid_size: voxels per axis ``n``.
        block_size: voxels per cube edge.
        supersampling: sub-samples per voxel and axis (odd or even, >= 1).
        style: ``"centred"`` (equal cubes, the piece's centre of mass at the grid
            centre), ``"box"`` (equal cubes, the 4^3 box centred) or
            ``"paper_code"`` (the paper code's unequal cubes, the box centred).
            Parts of a box-placed piece rotated out of the grid are cut, as in
            the paper's code.
        offset: ``[3]`` translation ``t`` in voxels (for example a sub-voxel one,
            :func:`keras_se3.voxelize.random_subvoxel_offset`), or None.  A
            ``"centred"`` piece must still fit the grid in every orientation.

    Returns:
        A float32 array ``[n, n, n]`` with values in ``[0, 1]``.

    Raises:
        ValueError: for an unknown piece or style, or a grid too small for the
            piece (``"centred"``: in every orientation; otherwise for the box).

    Example::

        grid = tetris_voxels("line", grid_size=20, block_size=3, style="paper_code")
        grid.sum()  # 48.0: the paper code's line is 2 x 2 x 12 voxels
    """
    edges, occupied, origin = _piece_geometry(
        piece, grid_size, block_size, supersampling, style, offset
    )
    n, s = int(grid_size), int(supersampling)
    centres = np.arange(n) - (n - 1) / 2
    sub = (np.arange(s) - (s - 1) / 2) / s
    axis = (centres[:, None] + sub[None, :]).ravel()  # [n * s], symmetric about 0
    x = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
    if offset is not None:
        x = x - np.asarray(offset, dtype=np.float64)
    if rotation is not None:
        x = x @ np.asarray(rotation, dtype=np.float64)  # R^-1 x = R^T x (row form)
    # Cell index along each axis: which of the 4 intervals between edges.
    cell = np.searchsorted(edges, x + origin, side="right") - 1
    valid = np.all((cell >= 0) & (cell < 4), axis=-1)
    cell = np.clip(cell, 0, 3)
    inside = valid & occupied[cell[..., 0], cell[..., 1], cell[..., 2]]
    inside = inside.reshape(n, s, n, s, n, s)
    return inside.mean(axis=(1, 3, 5), dtype=np.float64).astype(np.float32)


def _piece_geometry(piece, grid_size, block_size, supersampling, style, offset=None):
    """``(cell edges [5], occupancy [4, 4, 4], origin [3])`` of a piece, checked.

    ``offset``: the largest translation the caller will apply (its norm widens
    the ``"centred"`` fit check); ``"max"`` for any sub-voxel offset.
    """
    if piece not in TETRIS_PIECES:
        raise ValueError(f"Unknown Tetris piece {piece!r}; known: {TETRIS_NAMES}.")
    n, b, s = int(grid_size), int(block_size), int(supersampling)
    if n < 1 or b < 1 or s < 1:
        raise ValueError(
            "grid_size, block_size and supersampling must be positive integers, got "
            f"{grid_size!r}, {block_size!r}, {supersampling!r}."
        )
    edges = cell_edges(b, style)
    cubes = np.asarray(TETRIS_PIECES[piece])
    origin = piece_offset(piece, n, b, style)
    if style != "centred" and 4 * b > n:
        raise ValueError(
            f"The box of 4 x {b} voxels does not fit a {n}^3 grid: "
            f"use a grid_size of at least {4 * b} or a smaller block_size."
        )
    if style == "centred":  # must fit in every orientation
        corners = np.array(
            [[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)],
            dtype=np.float64,
        )
        radius = np.linalg.norm(
            ((cubes[:, None, :] + corners) * b - origin).reshape(-1, 3), axis=-1
        ).max()
        if isinstance(offset, str) and offset == "max":
            radius += np.sqrt(3) / 2
        elif offset is not None:
            radius += np.linalg.norm(offset)
        if radius > n / 2:
            raise ValueError(
                f"The piece {piece!r} (block_size={b}) reaches {radius:.2f} voxels "
                f"from the centre and does not fit a {n}^3 grid in every "
                f"orientation: use a grid_size of at least "
                f"{int(np.ceil(2 * radius))} or a smaller block_size."
            )
    occupied = np.zeros((4, 4, 4), dtype=bool)
    occupied[tuple(cubes.T)] = True
    return edges, occupied, origin


def tetris_voxels_tf(
    label,
    rotation=None,
    offset=None,
    *,
    grid_size=37,
    block_size=5,
    supersampling=3,
    style="centred",
):
    """The TensorFlow twin of :func:`tetris_voxels`, for ``tf.data`` pipelines.

    Same voxelisation (partial volume on a ``supersampling^3`` lattice, in
    float64), with the piece, rotation and offset as tensors, so that a pipeline
    can voxelise every piece afresh at a new rotation or sub-voxel offset on
    each presentation.

    Args:
        label: int scalar tensor, the piece's index in :data:`TETRIS_NAMES`.
        rotation: ``[3, 3]`` rotation tensor, or None.
        offset: ``[3]`` translation in voxels, or None.
        grid_size, block_size, supersampling, style: as for :func:`tetris_voxels`
            (Python values: they fix the shapes).

    Returns:
        A float32 ``[n, n, n]`` tensor with values in ``[0, 1]``.
    """
    import tensorflow as tf

    n, s = int(grid_size), int(supersampling)
    checked = [
        _piece_geometry(
            name, n, block_size, s, style, "max" if offset is not None else None
        )
        for name in TETRIS_NAMES
    ]
    edges = tf.constant(checked[0][0], tf.float64)
    occupied = tf.constant(np.stack([c[1] for c in checked]))  # [8, 4, 4, 4]
    origins = tf.constant(np.stack([c[2] for c in checked]), tf.float64)  # [8, 3]

    centres = np.arange(n) - (n - 1) / 2
    sub = (np.arange(s) - (s - 1) / 2) / s
    axis = (centres[:, None] + sub[None, :]).ravel()
    x = tf.constant(
        np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    )
    if offset is not None:
        x = x - tf.cast(offset, tf.float64)
    if rotation is not None:
        x = tf.matmul(x, tf.cast(rotation, tf.float64))  # rows R^T x
    label = tf.cast(label, tf.int32)
    y = x + origins[label]
    # searchsorted wants a sorted sequence per row: the same edges for each axis.
    cell = tf.searchsorted(
        tf.broadcast_to(edges, [3, 5]), tf.transpose(y), side="right"
    )
    cell = tf.transpose(cell) - 1  # [P, 3]
    valid = tf.reduce_all((cell >= 0) & (cell < 4), axis=-1)
    cell = tf.clip_by_value(cell, 0, 3)
    inside = valid & tf.gather_nd(occupied[label], cell)
    inside = tf.reshape(tf.cast(inside, tf.float64), [n, s, n, s, n, s])
    return tf.cast(tf.reduce_mean(inside, axis=[1, 3, 5]), tf.float32)
