"""How much does a Tetris piece's grid change when it only moves by a sub-voxel step?

In the continuum a translation changes nothing that a translation-invariant net
can see.  On the grid, the partial-volume voxelisation of a piece shifted by a
fraction of a voxel is a different image: the faces of its cubes smear over
two voxels instead of sitting on voxel faces.  This measures that difference in
a statistic that is exactly translation-invariant for band-limited images, the
magnitude of the grid's Fourier transform, after the Gaussian input blur of
``tetris_net(input_blur=sigma)``: the relative change of ``|FFT(blur(x_t))|``
against the canonical placement ``x_0``, median over the 8 pieces and
``--offsets`` random offsets each.  The change of a trained net's invariants and
logits under re-voxelised rotations is mostly this one (a sub-voxel translation
changes them as much; docs/results.md compares the two).

    python benchmarks/input_aliasing.py                 # small (17^3) and coarse (13^3)
    python benchmarks/input_aliasing.py --sigmas 0 0.87 1.5
"""

import argparse
import pathlib
import sys

import numpy as np
from scipy.ndimage import gaussian_filter

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from keras_se3.datasets.tetris import tetris_dataset_builder  # noqa: E402

from keras_se3.datasets.tetris_pieces import TETRIS_NAMES, tetris_voxels  # noqa: E402

CONFIGS = {c.name: c for c in tetris_dataset_builder.Builder.BUILDER_CONFIGS}


def change(config, sigma, offsets, rng):
    """Median relative change of ``|FFT(blur(x))|`` under sub-voxel offsets."""
    geometry = dict(
        grid_size=config.grid_size, block_size=config.block_size, style=config.style
    )

    def spectrum(grid):
        if sigma:
            grid = gaussian_filter(grid, sigma, mode="constant", truncate=3.0)
        return np.abs(np.fft.fftn(grid))

    changes = []
    for piece in TETRIS_NAMES:
        reference = spectrum(tetris_voxels(piece, **geometry))
        for offset in rng.uniform(-0.5, 0.5, (offsets, 3)):
            moved = spectrum(tetris_voxels(piece, offset=offset, **geometry))
            changes.append(
                np.linalg.norm(moved - reference) / np.linalg.norm(reference)
            )
    return float(np.median(changes))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=["small", "coarse"])
    parser.add_argument(
        "--sigmas", nargs="+", type=float, default=[0, 0.5, 0.87, 1.2, 1.5, 2.0]
    )
    parser.add_argument("--offsets", type=int, default=10, help="per piece")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print("| config | " + " | ".join(f"blur σ {s:g}" for s in args.sigmas) + " |")
    print("|---" * (len(args.sigmas) + 1) + "|")
    for name in args.configs:
        config = CONFIGS[name]
        cells = []
        for sigma in args.sigmas:
            rng = np.random.default_rng(args.seed)
            cells.append(f"{100 * change(config, sigma, args.offsets, rng):.1f} %")
        size, block = config.grid_size, config.block_size
        print(f"| {name} ({size}^3, {block}-voxel cubes) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
