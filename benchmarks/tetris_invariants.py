"""How far do achiral invariants get on Tetris? A baseline with nothing learned.

Each piece is described by 4 numbers that no rotation (and no reflection)
changes: its mass (the sum of its voxels) and the 3 eigenvalues of its
mass-weighted covariance (second central moments).  A test piece gets the label
of the nearest training piece (Euclidean distance of the logarithms).  These
features cannot tell mirror images apart, so on the paper's pieces (4 equal
cubes each) they can at best reach 7/8 = 87.5 %, and less where two pieces share
mass and moments.  A classifier that scores more has to see chirality; one that
scores less is beaten by four numbers.

Protocol: training set = the 8 pieces, canonical or each in one Haar-random
orientation (as the paper's code trains); test = ``--rotations`` Haar-random
rotations per piece, cubic-spline resampled about the grid centre (the paper
code's test and the ``tetris`` dataset's ``test`` split).  Pieces in two styles
(``keras_se3.datasets.tetris_pieces.tetris_voxels``): ``centred``, equal cubes
(the ``tetris`` dataset's ``default`` and ``small`` configs), ``box``, equal
cubes placed as the paper's script places its pieces (``paper_code_equal_cubes``),
and ``paper_code``, the unequal zoomed cubes of that script.

Usage::

    python benchmarks/tetris_invariants.py             # markdown table, ~1 min
    python benchmarks/tetris_invariants.py --rotations 20 --seeds 2
"""

import argparse
import time

import numpy as np

from keras_se3.datasets.tetris_pieces import TETRIS_NAMES, tetris_voxels
from keras_se3.so3 import random_rotation
from keras_se3.transforms import resample_grid

#: (style, grid_size, block_size, what it is)
SETTINGS = (
    ("paper_code", 20, 3, "paper's script, 20^3 (`tetris/paper_code`)"),
    ("paper_code", 36, 5, "paper's script, 36^3 (its runs' grid)"),
    ("box", 20, 3, "equal cubes placed as the script, 20^3 (`paper_code_equal_cubes`)"),
    ("centred", 17, 3, "equal cubes, 17^3 (`tetris/small`)"),
    ("centred", 37, 5, "equal cubes, 37^3 (`tetris/default`)"),
)


def invariants(grid):
    """``[mass, sorted covariance eigenvalues]`` of a non-negative 3D grid."""
    weights = np.clip(grid, 0.0, None).ravel()
    n = grid.shape[0]
    axis = np.arange(n) - (n - 1) / 2
    points = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    mass = weights.sum()
    centred = points - weights @ points / mass
    covariance = (centred * weights[:, None]).T @ centred / mass
    return np.concatenate([[mass], np.linalg.eigvalsh(covariance)])


def nearest_neighbour(train_x, test_x):
    """Index of the nearest training grid for each test grid (log invariants)."""
    train = np.log([invariants(g) for g in train_x])
    test = np.log([invariants(g) for g in test_x])
    distances = ((test[:, None, :] - train[None, :, :]) ** 2).sum(-1)
    return distances.argmin(axis=1)


def rotated(grid, rotation):
    return resample_grid(grid[None, ..., None], rotation, order=3)[0, ..., 0]


def accuracy(style, grid_size, block_size, orientation, rotations, seed):
    """Accuracy and confusion matrix of the invariant 1-NN classifier."""
    sizes = dict(grid_size=grid_size, block_size=block_size, style=style)
    canonical = [tetris_voxels(piece, **sizes) for piece in TETRIS_NAMES]
    train = canonical
    if orientation == "random":
        draws = random_rotation(len(canonical), seed=1000 + seed)
        train = [rotated(g, r) for g, r in zip(canonical, draws)]
    draws = random_rotation(len(canonical) * rotations, seed=seed)
    test_x = [rotated(canonical[k % 8], r) for k, r in enumerate(draws)]
    test_y = np.arange(len(test_x)) % 8
    predicted = nearest_neighbour(train, test_x)
    confusion = np.zeros((8, 8), dtype=int)
    np.add.at(confusion, (test_y, predicted), 1)
    return float(np.mean(predicted == test_y)), confusion


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rotations", type=int, default=50, help="test rotations per piece"
    )
    parser.add_argument("--seeds", type=int, default=3, help="test sets (mean ± std)")
    args = parser.parse_args(argv)
    begin = time.perf_counter()
    print(
        f"Achiral invariants (mass + second moments), nearest training piece; "
        f"{args.rotations} resampled Haar rotations per piece, {args.seeds} seeds\n"
    )
    print(
        "| pieces | volumes (voxels) | trained on canonical "
        "| trained on one random orientation | pairs confused (> 1/4) |"
    )
    print("|---|---|---|---|---|")
    for style, n, b, label in SETTINGS:
        volumes = sorted(
            {
                int(tetris_voxels(p, grid_size=n, block_size=b, style=style).sum())
                for p in TETRIS_NAMES
            }
        )
        cells, confused = [], set()
        for orientation in ("canonical", "random"):
            runs = [
                accuracy(style, n, b, orientation, args.rotations, seed)
                for seed in range(args.seeds)
            ]
            values = 100 * np.array([a for a, _ in runs])
            cells.append(f"{values.mean():.1f} ± {values.std():.1f} %")
            for _, confusion in runs:
                for i, j in zip(*np.nonzero(confusion > args.rotations // 4)):
                    if i != j:
                        confused.add(f"{TETRIS_NAMES[i]} -> {TETRIS_NAMES[j]}")
        print(
            f"| {label} | {', '.join(map(str, volumes))} | {cells[0]} | {cells[1]} | "
            f"{'; '.join(sorted(confused)) or 'none'} |"
        )
    print(f"\n{time.perf_counter() - begin:.0f} s")


if __name__ == "__main__":
    main()
