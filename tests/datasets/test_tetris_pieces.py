import numpy as np
import pytest

from keras_se3 import so3
from keras_se3.datasets.tetris_pieces import (
    TETRIS_NAMES,
    TETRIS_PIECES,
    cell_edges,
    piece_centroid,
    piece_radius,
    tetris_voxels,
    tetris_voxels_tf,
)
from keras_se3.transforms import rotate_grid


@pytest.mark.parametrize("n, block", [(8, 1), (9, 1), (16, 3), (17, 3)])
def test_canonical_pieces_are_exact_blocks(n, block):
    for piece in TETRIS_NAMES:
        grid = tetris_voxels(piece, grid_size=n, block_size=block)
        assert set(np.unique(grid)) == {0.0, 1.0}
        assert grid.sum() == 4 * block**3


@pytest.mark.parametrize("n", [8, 9])
def test_cube_rotations_of_the_geometry_equal_rotate_grid_exactly(n):
    for piece in TETRIS_NAMES:
        canonical = tetris_voxels(piece, grid_size=n, block_size=1)
        for rotation in so3.cube_rotations():
            rotated = tetris_voxels(piece, rotation, grid_size=n, block_size=1)
            expected = rotate_grid(canonical[None, ..., None], rotation)[0, ..., 0]
            np.testing.assert_array_equal(rotated, expected)


@pytest.mark.parametrize("n", [16, 17])
def test_haar_rotated_pieces_keep_volume_and_stay_centred(n):
    block = 3
    centres = np.arange(n) - (n - 1) / 2
    for piece, rotation in zip(TETRIS_NAMES, so3.random_rotation(8, seed=0)):
        grid = tetris_voxels(piece, rotation, grid_size=n, block_size=block)
        assert grid.sum() == pytest.approx(4 * block**3, rel=0.03)
        com = [
            (grid.sum(axis=tuple(a for a in range(3) if a != axis)) * centres).sum()
            / grid.sum()
            for axis in range(3)
        ]
        assert np.linalg.norm(com) < 0.9  # within ~half a voxel per axis


def test_bad_piece_or_too_small_grid():
    with pytest.raises(ValueError, match="Unknown Tetris piece"):
        tetris_voxels("S")
    with pytest.raises(ValueError, match="grid_size of at least"):
        tetris_voxels("line", grid_size=16, block_size=5)


def test_paper_code_style_has_the_zoomed_unequal_cubes():
    # scipy.ndimage.zoom(order=0) of 4 cells to 12 voxels aligns the corner voxels:
    # the cells are 2, 4, 4, 2 voxels wide (4, 6, 6, 4 for the paper's 20-voxel box).
    np.testing.assert_array_equal(cell_edges(3, "paper_code"), [0, 2, 6, 10, 12])
    np.testing.assert_array_equal(cell_edges(5, "paper_code"), [0, 4, 10, 16, 20])
    widths = np.diff(cell_edges(3, "paper_code"))
    for piece in TETRIS_NAMES:
        grid = tetris_voxels(piece, grid_size=20, block_size=3, style="paper_code")
        cubes = np.asarray(TETRIS_PIECES[piece])
        assert set(np.unique(grid)) == {0.0, 1.0}
        assert grid.sum() == np.prod(widths[cubes], axis=1).sum()
    line = tetris_voxels("line", grid_size=20, block_size=3, style="paper_code")
    # The box spans voxels 4..15 (padded by 4); the line is its 2 x 2 x 12 corner.
    np.testing.assert_array_equal(np.argwhere(line).min(0), [4, 4, 4])
    np.testing.assert_array_equal(np.argwhere(line).max(0), [5, 5, 15])


def test_paper_code_pieces_differ_in_volume_and_rotate_exactly():
    volumes = {
        p: tetris_voxels(p, grid_size=20, block_size=3, style="paper_code").sum()
        for p in TETRIS_NAMES
    }
    assert volumes["chiral_1"] != volumes["chiral_2"]  # the mirror pair: 72 vs 96
    assert min(volumes.values()) == 48 and max(volumes.values()) == 96
    # Box centred and cells symmetric: the 24 cube rotations map the grid to itself.
    canonical = tetris_voxels("T", grid_size=20, block_size=3, style="paper_code")
    for rotation in so3.cube_rotations():
        rotated = tetris_voxels(
            "T", rotation, grid_size=20, block_size=3, style="paper_code"
        )
        expected = rotate_grid(canonical[None, ..., None], rotation)[0, ..., 0]
        np.testing.assert_array_equal(rotated, expected)


def test_bad_style_or_box_too_large():
    with pytest.raises(ValueError, match="Unknown style"):
        tetris_voxels("L", style="zoomed")
    with pytest.raises(ValueError, match="grid_size of at least 12"):
        tetris_voxels("L", grid_size=10, block_size=3, style="paper_code")


def test_box_style_places_equal_cubes_as_the_paper_code_places_its_box():
    box = tetris_voxels("line", grid_size=20, block_size=3, style="box")
    assert box.sum() == 4 * 27
    np.testing.assert_array_equal(np.argwhere(box).min(0), [4, 4, 4])
    np.testing.assert_array_equal(np.argwhere(box).max(0), [6, 6, 15])


@pytest.mark.parametrize("n, block", [(13, 2), (17, 3)])
def test_tf_twin_voxelises_exactly_as_numpy(n, block):
    rng = np.random.default_rng(n)
    rotations = [None, *so3.random_rotation(2, seed=n)]
    for label, piece in enumerate(TETRIS_NAMES):
        for rotation in rotations:
            offset = rng.uniform(-0.5, 0.5, 3)
            expected = tetris_voxels(
                piece, rotation, grid_size=n, block_size=block, offset=offset
            )
            got = tetris_voxels_tf(
                label, rotation, offset, grid_size=n, block_size=block
            ).numpy()
            np.testing.assert_array_equal(got, expected)


def test_shifted_pieces_are_exact_under_cube_rotations_and_keep_their_volume():
    # Voxelising the piece rotated by a cube rotation R and shifted by R t gives
    # the grid of the piece shifted by t, rotated by R: bit for bit.
    rng = np.random.default_rng(0)
    for piece in ("chiral_1", "L", "zigzag"):
        offset = rng.uniform(-0.5, 0.5, 3)
        shifted = tetris_voxels(piece, grid_size=13, block_size=2, offset=offset)
        # Partial volume: the cube faces now cut voxels, the volume stays 4 b^3
        # (to the sub-voxel lattice's resolution: 1/27 of a voxel per face cut).
        assert len(np.unique(shifted)) > 2
        assert shifted.sum() == pytest.approx(4 * 2**3, abs=0.5)
        for rotation in so3.cube_rotations():
            rotated = tetris_voxels(
                piece, rotation, grid_size=13, block_size=2, offset=rotation @ offset
            )
            expected = rotate_grid(shifted[None, ..., None], rotation)[0, ..., 0]
            np.testing.assert_array_equal(rotated, expected)


def test_an_offset_moves_the_centre_of_mass_by_itself():
    # To the sub-voxel lattice's resolution: 1/s voxel for supersampling s.
    centres = np.arange(17) - 8
    offset = np.array([0.3, -0.45, 0.1])
    for s in (3, 7):
        for piece in ("line", "T"):
            kwargs = dict(grid_size=17, block_size=3, supersampling=s)
            base = tetris_voxels(piece, **kwargs)
            moved = tetris_voxels(piece, **kwargs, offset=offset)
            com = [
                np.einsum("ijk,i->", np.moveaxis(g, a, 0), centres) / g.sum()
                for g in (base, moved)
                for a in range(3)
            ]
            shift = np.subtract(com[3:], com[:3])
            np.testing.assert_allclose(shift, offset, atol=0.5 / s + 1e-6)


def _mass_centre(grid):
    n = grid.shape[0]
    centres = np.arange(n) - (n - 1) / 2
    index = np.stack(np.meshgrid(centres, centres, centres, indexing="ij"), axis=-1)
    return np.einsum("xyz,xyzc->c", grid, index) / grid.sum()


@pytest.mark.parametrize("style", ["centred", "box", "paper_code"])
def test_piece_centroid_is_the_voxelised_pieces_mass_centre(style):
    # Canonical pieces are exact 0/1 blocks: the mass centres agree exactly.
    for piece in TETRIS_NAMES:
        kwargs = dict(grid_size=20, block_size=3, style=style)
        np.testing.assert_allclose(
            piece_centroid(piece, **kwargs),
            _mass_centre(tetris_voxels(piece, **kwargs)),
            atol=1e-12,
        )
    # centred: within half a voxel of the grid centre, per axis.
    np.testing.assert_array_equal(
        piece_centroid("line", grid_size=17, block_size=3), [0, 0, -0.5]
    )


def test_piece_centroid_follows_rotation_and_offset():
    # To the sub-voxel lattice's resolution (partial volumes of a turned piece).
    rng = np.random.default_rng(1)
    for piece, rotation in zip(TETRIS_NAMES, so3.random_rotation(8, seed=1)):
        offset = rng.uniform(-0.5, 0.5, 3)
        kwargs = dict(grid_size=21, block_size=3, supersampling=5)
        grid = tetris_voxels(piece, rotation, offset=offset, **kwargs)
        expected = piece_centroid(
            piece, rotation, grid_size=21, block_size=3, offset=offset
        )
        np.testing.assert_allclose(_mass_centre(grid), expected, atol=0.02)


def test_piece_radius_bounds_the_piece_in_every_orientation():
    assert piece_radius("line", 1) == pytest.approx(np.sqrt(0.5**2 + 0.5**2 + 2**2))
    assert piece_radius("square", 2) == pytest.approx(3.0)  # corner of a 4x4x2 slab
    n = 21
    centres = np.arange(n) - (n - 1) / 2
    index = np.stack(np.meshgrid(centres, centres, centres, indexing="ij"), axis=-1)
    for piece, rotation in zip(TETRIS_NAMES, so3.random_rotation(8, seed=2)):
        grid = tetris_voxels(piece, rotation, grid_size=n, block_size=3)
        centre = piece_centroid(piece, rotation, grid_size=n, block_size=3)
        reach = np.linalg.norm(index[grid > 0] - centre, axis=-1).max()
        # A voxel with mass has its centre within half a diagonal of the piece.
        assert reach <= piece_radius(piece, 3) + np.sqrt(3) / 2
    with pytest.raises(ValueError, match="Unknown Tetris piece"):
        piece_radius("S")
    with pytest.raises(ValueError, match="Unknown Tetris piece"):
        piece_centroid("S")
