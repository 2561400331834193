import numpy as np
import pytest

from keras_se3 import so3
from keras_se3.datasets.tetris_pieces import TETRIS_NAMES, tetris_voxels


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
            expected = so3.rotate_grid(canonical[None, ..., None], rotation)[0, ..., 0]
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
