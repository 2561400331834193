"""Writes dummy_data/cath_*_ca.npz: tiny files in the exact format of the real ones.

Run from anywhere: ``python datasets/cath/make_dummy_data.py``.  Each file has 20
proteins (2 per split), random-walk C-alpha chains of 4-12 atoms with 3.8 Å steps,
centred on their mean and zero-padded, and labels cycling over the config's classes.
"""

import pathlib

import numpy as np

# (file, level, label tuples): plausible CATH numbers, in no particular order.
_FILES = {
    "cath_3class_ca.npz": [(3,), (1,), (2,)],
    "cath_10arch_ca.npz": [
        (3, 30),
        (1, 10),
        (2, 60),
        (3, 40),
        (2, 40),
        (1, 20),
        (3, 10),
        (3, 20),
        (2, 30),
        (3, 90),
    ],
    "cath_20topo_ca.npz": [
        (a, b, c)
        for a, b in [(3, 30), (2, 60), (1, 10), (3, 40)]
        for c in (10, 20, 30, 40, 50)
    ],
}


def make(path, labels, seed, num=20):
    rng = np.random.default_rng(seed)
    n_atoms = rng.integers(4, 13, size=num)
    max_atoms = int(n_atoms.max())
    positions = np.zeros((num, max_atoms, 3))
    atom_types = np.empty((num, max_atoms), dtype="S10")
    atom_types[:] = ""
    res_indices = np.zeros((num, max_atoms)) - 1
    for i, count in enumerate(n_atoms):
        steps = rng.normal(size=(count, 3))
        steps *= 3.8 / np.linalg.norm(steps, axis=-1, keepdims=True)
        chain = np.cumsum(steps, axis=0)
        positions[i, :count] = chain - chain.mean(axis=0)
        atom_types[i, :count] = "CA"
        res_indices[i, :count] = np.arange(1, count + 1)
    label_array = np.array([labels[i % len(labels)] for i in range(num)], np.int64)
    np.savez_compressed(
        path,
        n_atoms=n_atoms.astype(np.int64),
        atom_types=atom_types,
        res_indices=res_indices,
        positions=positions,
        labels=label_array,
        split_start_indices=np.arange(0, num, num // 10, dtype=np.int64),
    )


if __name__ == "__main__":
    out = pathlib.Path(__file__).parent / "dummy_data"
    for seed, (name, labels) in enumerate(_FILES.items()):
        make(out / name, labels, seed)
