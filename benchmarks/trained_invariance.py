"""How invariant is a *trained* Tetris net on the inputs users give it?

Every layer is exactly equivariant under the 24 cube rotations; under other
rotations the grid breaks the symmetry a little, and a trained net may amplify
that.  This measures it where users live: for a trained net, the relative change
of the logits, ``|f(g x) - f(x)| / |f(x)|`` with ``x`` the canonical piece, over
the 8 pieces and ``--rotations`` Haar rotations each, for three kinds of ``g x``:

- ``resampled``: the canonical grid rotated by cubic-spline resampling (the
  paper's test, the ``tetris`` dataset's ``test`` split);
- ``revoxelized``: the rotated geometry voxelised afresh by partial volume (the
  ``test_revoxelized`` split; what molecules and meshes go through);
- ``translated``: no rotation, a random sub-voxel translation, voxelised afresh.
  In the continuum this changes nothing, so a net that reacts to it reacts to
  where the object sits on the voxel lattice: to aliasing.

The same relative change is printed for each gated block's invariant content (the
spatial mean of its field norms, as ``InvariantPooling`` computes it), so that
one sees which block amplifies the difference.  Also each kind's accuracy.

Both again relative to the object's part of the response, ``|f(g x) - f(x)| /
|f(x) - f(0)|`` with ``f(0)`` the response to an empty grid: biases and batch
norm give an empty grid large logits, which a trained net's response to the
piece largely cancels, so ``|f(x)|`` understates the scale of what the piece
changes.  ``--pad`` measures on a larger grid (the border's share).

Usage (trains with ``examples/tetris.py``'s default recipe, then measures)::

    python benchmarks/trained_invariance.py --config small --seed 0
    python benchmarks/trained_invariance.py --config small --seed 0 --augment none
    python benchmarks/trained_invariance.py --model tetris.keras --config small
"""

import argparse
import json
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

import startup  # noqa: E402

startup.quiet()

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras_se3.datasets.tetris import tetris_dataset_builder  # noqa: E402

from keras_se3.datasets.tetris_pieces import TETRIS_NAMES, tetris_voxels  # noqa: E402
from keras_se3.layers import InvariantPooling, SE3GatedConv3D  # noqa: E402
from keras_se3.so3 import random_rotation  # noqa: E402
from keras_se3.transforms import resample_grid  # noqa: E402

KINDS = ("resampled", "revoxelized", "translated")


def inputs(config, rotations, seed, pad=0):
    """Canonical pieces ``[8, n, n, n, 1]`` and each kind's ``[8, R, n, n, n, 1]``,
    with ``pad`` empty voxels added on every side (``n`` grows by ``2 pad``)."""
    c = {c.name: c for c in tetris_dataset_builder.Builder.BUILDER_CONFIGS}[config]
    geometry = dict(grid_size=c.grid_size, block_size=c.block_size, style=c.style)
    rng = np.random.default_rng(seed)
    canonical = np.stack([tetris_voxels(p, **geometry) for p in TETRIS_NAMES])
    haar = random_rotation(8 * rotations, seed=seed).reshape(8, rotations, 3, 3)
    kinds = {kind: [] for kind in KINDS}
    for label, piece in enumerate(TETRIS_NAMES):
        grid = canonical[label][None, ..., None]
        kinds["resampled"].append(
            np.concatenate([resample_grid(grid, r, order=3) for r in haar[label]])
        )
        kinds["revoxelized"].append(
            np.stack([tetris_voxels(piece, r, **geometry) for r in haar[label]])[
                ..., None
            ]
        )
        offsets = rng.uniform(-0.5, 0.5, (rotations, 3))
        kinds["translated"].append(
            np.stack([tetris_voxels(piece, offset=t, **geometry) for t in offsets])[
                ..., None
            ]
        )
    kinds = {k: np.stack(v).astype("float32") for k, v in kinds.items()}
    canonical = canonical[..., None].astype("float32")
    if pad:
        kinds = {k: _pad(v, pad, 2) for k, v in kinds.items()}
        canonical = _pad(canonical, pad, 1)
    return canonical, kinds


def _pad(grids, pad, first):
    """Zeros around the spatial axes ``first .. first + 2``."""
    widths = [(0, 0)] * grids.ndim
    for axis in range(first, first + 3):
        widths[axis] = (pad, pad)
    return np.pad(grids, widths)


def probe(model):
    """The model's logits and each gated block's pooled invariants, one model."""
    blocks = [layer for layer in model.layers if isinstance(layer, SE3GatedConv3D)]
    pooled = [
        InvariantPooling(layer.out_fields, name=f"probe_{layer.name}")(layer.output)
        for layer in blocks
    ]
    names = [layer.name for layer in blocks] + ["logits"]
    return keras.Model(model.inputs, pooled + [model.output]), names


def relative_changes(probe_model, names, canonical, rotated):
    """``{name: [8, R] relative changes}``, the same relative to the object's part
    of the response, and the ``[8, R]`` predicted labels.

    The object's part is ``f(x) - f(empty grid)``: what the piece adds to the
    response of an empty grid (biases and batch norm alone give an empty grid
    logits, which the piece's part largely cancels in a trained net, so
    ``|f(x)|`` can be small against both)."""

    def predict(x, batch_size):  # a list of outputs, also for a single one
        out = probe_model.predict(x, batch_size=batch_size, verbose=0)
        return out if isinstance(out, list) else [out]

    reference = predict(canonical, 8)
    empty = predict(np.zeros_like(canonical[:1]), 1)
    pieces, count = rotated.shape[:2]
    outputs = predict(rotated.reshape((pieces * count,) + rotated.shape[2:]), 16)
    changes, of_object = {}, {}
    for name, ref, out, zero in zip(names, reference, outputs, empty):
        out = out.reshape(pieces, count, -1)
        diff = np.linalg.norm(out - ref[:, None], axis=-1)
        changes[name] = diff / np.linalg.norm(ref, axis=-1)[:, None]
        of_object[name] = diff / np.linalg.norm(ref - zero, axis=-1)[:, None]
    predicted = outputs[-1].reshape(pieces, count, -1).argmax(-1)
    return changes, of_object, predicted


def measure(model, config, rotations, seed, pad=0):
    """``{kind: {"accuracy", "median", "p90", per-block medians}}``."""
    canonical, kinds = inputs(config, rotations, seed, pad)
    probe_model, names = probe(model)
    labels = np.arange(8)[:, None]
    report = {}
    for kind, rotated in kinds.items():
        changes, of_object, predicted = relative_changes(
            probe_model, names, canonical, rotated
        )
        report[kind] = {
            "accuracy": float(np.mean(predicted == labels)),
            "median": float(np.median(changes["logits"])),
            "p90": float(np.percentile(changes["logits"], 90)),
            "blocks": {n: float(np.median(changes[n])) for n in names[:-1]},
            # Relative to the object's part, f(x) - f(empty grid).
            "object_median": float(np.median(of_object["logits"])),
            "object_blocks": {n: float(np.median(of_object[n])) for n in names[:-1]},
            # Which pieces fail: a piece not fitted and a confused pair differ.
            "per_piece": {
                piece: float(np.mean(predicted[i] == i))
                for i, piece in enumerate(TETRIS_NAMES)
            },
        }
    return report


def print_report(report, title):
    print(f"\n### {title}\n")
    blocks = list(next(iter(report.values()))["blocks"])
    print(
        "| input | accuracy (%) | logits: median change | 90th percentile |"
        + "".join(f" {b}: median |" for b in blocks)
    )
    print("|---" * (4 + len(blocks)) + "|")
    for kind, r in report.items():
        cells = [f"{100 * r['accuracy']:.1f}", f"{r['median']:.3f}", f"{r['p90']:.3f}"]
        cells += [f"{r['blocks'][b]:.3f}" for b in blocks]
        print(f"| {kind} | " + " | ".join(cells) + " |")
    print(
        "\nRelative to the object's part of the response, f(x) - f(empty grid) "
        "(medians):\n"
    )
    print("| input | logits |" + "".join(f" {b} |" for b in blocks))
    print("|---" * (2 + len(blocks)) + "|")
    for kind, r in report.items():
        cells = [f"{r['object_median']:.3f}"]
        cells += [f"{r['object_blocks'][b]:.3f}" for b in blocks]
        print(f"| {kind} | " + " | ".join(cells) + " |")
    for kind, r in report.items():
        wrong = {p: a for p, a in r["per_piece"].items() if a < 1}
        listed = ", ".join(f"{p} {100 * a:.0f} %" for p, a in wrong.items())
        print(f"{kind}: pieces not always right: {listed or 'none'}")


def summarize(paths):
    """One markdown row per group of runs (same title but the seed), per-seed cells."""
    groups = {}
    for path in sorted(paths):
        record = json.loads(pathlib.Path(path).read_text())
        title = record["title"]
        key = (
            title.split(", seed ")[0]
            + " "
            + title.split(", seed ")[-1].split(" ", 1)[-1]
        )
        groups.setdefault(key.strip(), []).append(record)
    print(
        "| run | seeds | re-voxelised (%) | resampled (%) | train (%) | "
        "logit change, re-voxelised (median) | sub-voxel translation (median) | "
        "re-voxelised, of the object's part (median) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for key, records in groups.items():

        def cell(values, scale=100, digits=1):
            values = np.array(values) * scale
            per_seed = ", ".join(f"{v:.{digits}f}" for v in values)
            return f"{values.mean():.{digits}f} ({per_seed})"

        acc = [r.get("accuracy", {}) for r in records]
        rep = [r["report"] for r in records]
        of_object = [r["revoxelized"].get("object_median", np.nan) for r in rep]
        print(
            f"| {key} | {len(records)} | "
            f"{cell([a.get('test_revoxelized', np.nan) for a in acc])} | "
            f"{cell([a.get('test', np.nan) for a in acc])} | "
            f"{cell([a.get('train', np.nan) for a in acc])} | "
            f"{cell([r['revoxelized']['median'] for r in rep], 1, 3)} | "
            f"{cell([r['translated']['median'] for r in rep], 1, 3)} | "
            f"{cell(of_object, 1, 3)} |"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="small", help="tetris config")
    parser.add_argument("--model", help="a trained .keras file (else: train one)")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument(
        "--augment", default="shift", choices=("shift", "none", "rotate")
    )
    parser.add_argument("--variant", default="steerable", help="of examples/tetris.py")
    parser.add_argument("--rotations", type=int, default=100, help="per piece")
    parser.add_argument(
        "--test-pieces",
        type=int,
        help="accuracy on a fixed subset of N pieces of each test split (faster)",
    )
    parser.add_argument("--data-dir", help="TFDS data directory")
    parser.add_argument("--json", help="write the report here too")
    parser.add_argument("--save-model", help="save the trained net here (.keras)")
    parser.add_argument(
        "--pad",
        type=int,
        default=0,
        help="measure on grids with this many empty voxels added on every side "
        "(does the border of the grid cost invariance?)",
    )
    parser.add_argument(
        "--extra", default="", help="more examples/tetris.py options, quoted"
    )
    parser.add_argument(
        "--summarize",
        nargs="+",
        metavar="JSON",
        help="instead of a run: one markdown row per group of --json files",
    )
    args = parser.parse_args(argv)
    if args.summarize:
        summarize(args.summarize)
        return
    begin = time.perf_counter()
    if args.model:
        model = keras.saving.load_model(args.model)
        title = f"{args.model}, tetris/{args.config}, pad {args.pad}"
    else:
        import tetris

        from keras_se3 import training

        options = ["--config", args.config, "--steps", str(args.steps)]
        options += ["--augment", args.augment, "--verbose", "0"]
        options += ["--data-dir", args.data_dir] * bool(args.data_dir)
        if args.test_pieces:
            options += ["--test-pieces", str(args.test_pieces)]
        script_args = tetris.parse_args(options + args.extra.split())
        data = {
            split: tetris.load_split(split, script_args)
            for split in ("train",) + tetris.SPLITS
        }
        if args.test_pieces:
            for split in tetris.SPLITS:
                data[split] = tetris.fixed_subset(data[split], args.test_pieces)
        model, results = tetris.train_and_test(
            args.variant,
            args.seed,
            data,
            script_args,
            training.make_strategy("default"),
        )
        print(
            "accuracy: " + ", ".join(f"{k} {100 * v:.1f} %" for k, v in results.items())
        )
        title = (
            f"{args.variant}, tetris/{args.config}, {args.steps} steps, augment "
            f"{args.augment}, seed {args.seed} {args.extra}"
        )
    if args.save_model:
        model.save(args.save_model)
    report = measure(model, args.config, args.rotations, args.seed + 1000, args.pad)
    print_report(report, title)
    print(f"\n{time.perf_counter() - begin:.0f} s")
    if args.json:
        record = {"title": title, "report": report}
        if not args.model:
            record["accuracy"] = results
        pathlib.Path(args.json).write_text(json.dumps(record))


if __name__ == "__main__":
    main()
