"""Secondary structure per residue of real protein chains, from their atoms.

Trains :func:`keras_se3.models.se3_unet` and its plain-CNN counterpart
:func:`keras_se3.models.unet_cnn` on the ``protein_sse`` TFDS dataset: 50 PDB
chains (34 train, 8 validation, 8 test) with DSSP's class per residue (helix,
strand, coil).  The input is the chain's heavy atoms as Gaussian densities, one
channel per element (C, N, O, S), on 1 Å voxels
(:func:`keras_se3.datasets.protein_sse_pipeline`); the nets predict the 3 class
logits at every voxel, read at each residue's Cα.  Every net trains on crops of
the training chains in their deposited orientation only (random sub-voxel
shifts); the CNN trained on randomly rotated crops (``--cnn-rotate``) is the
fair baseline.  The labels do not depend on the orientation, so a net that
knows proteins should score the same on the test chains rotated and voxelised
again.

Reported per net: per-residue accuracy (Q3) and per-class F1 on the whole test
chains in their deposited orientation and under ``--test-rotations`` random
rotations each (voxelised afresh), training time and the machine.

    python examples/proteins.py                          # se3_unet + unet_cnn
    python examples/proteins.py --cnn-rotate --steps 2000 --plots /tmp/proteins
    python examples/proteins.py --export /tmp/proteins   # collapse + ONNX check

``--export DIR`` collapses the trained ``se3_unet`` to stock Keras layers, writes
a SavedModel and an ONNX file there and checks onnxruntime against Keras;
``--plots DIR`` saves a slice through a rotated test chain with DSSP's and each
net's classes at the residues near the slice.
"""

import argparse
import json
import os
import time

if __name__ == "__main__":  # run as a script: examples/ is on sys.path
    import startup

    startup.quiet()

import experiment  # noqa: E402  (examples/experiment.py)
import keras  # noqa: E402
import machine  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

import keras_se3.optimizers  # noqa: E402
from keras_se3.datasets.protein_pipeline import ELEMENTS  # noqa: E402
from keras_se3.models import se3_unet, unet_cnn  # noqa: E402

CLASS_NAMES = ("helix", "strand", "coil")
ORIENTATIONS = ("deposited", "rotated")


def residue_logits(per_voxel, targets):
    """The ``[B, R, C]`` rows of a ``[B, n, n, n, C]`` output at the residues'
    voxels, ``targets[..., :3]`` (``[B, R, 4]`` as the pipeline yields them)."""
    n = ops.shape(per_voxel)[1]
    channels = ops.shape(per_voxel)[-1]
    flat = ops.reshape(per_voxel, (ops.shape(per_voxel)[0], -1, channels))
    index = ops.cast(targets[..., :3], "int32")
    linear = (index[..., 0] * n + index[..., 1]) * n + index[..., 2]
    return ops.take_along_axis(flat, ops.expand_dims(linear, -1), axis=1)


@keras.saving.register_keras_serializable(package="proteins_example")
class ResidueLoss(keras.losses.Loss):
    """Cross-entropy of the class logits read at each residue's Cα voxel.

    ``y_true`` is the pipeline's ``[B, R, 4]`` targets (voxel, label); the
    pipeline's weights mask padding and residues outside the crop.
    """

    def call(self, y_true, y_pred):
        logits = residue_logits(y_pred, y_true)
        labels = ops.cast(y_true[..., 3], "int32")
        return keras.losses.sparse_categorical_crossentropy(
            labels, logits, from_logits=True
        )


def build(variant, levels):
    channels = len(ELEMENTS)
    if variant == "se3_unet":
        return se3_unet(f"{channels}x0", "3x0", levels=levels)
    return unet_cnn(channels, 3, levels=levels, name=variant.replace("-", "_"))


def train(variant, args):
    """A compiled and trained net of ``variant``; returns ``(model, seconds)``."""
    from keras_se3.datasets import protein_sse_pipeline

    keras.utils.set_random_seed(args.seed)
    model = build(variant, args.levels)
    schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate, args.steps)
    model.compile(optimizer=keras_se3.optimizers.Adam(schedule), loss=ResidueLoss())
    data = protein_sse_pipeline(
        "train",
        data_dir=args.data_dir,
        grid_size=args.crop,
        rotate=variant == "unet_cnn-rotate",
        seed=args.seed,
        batch_size=args.batch_size,
    ).repeat()
    print(f"\n{variant}: {experiment.trainable_parameters(model):,} parameters")
    start = time.perf_counter()
    fit = dict(epochs=1, steps_per_epoch=args.steps, verbose=args.verbose)
    model.fit(data, shuffle=False, **fit)  # the pipeline shuffles the chains
    return model, time.perf_counter() - start


def test_chains(args, orientation, rotation_seed):
    """``(voxels, targets, weights)`` numpy arrays of the whole test chains."""
    import tensorflow_datasets as tfds

    from keras_se3.datasets import protein_sse_pipeline

    rotated = orientation == "rotated"
    data = protein_sse_pipeline(
        "test",
        data_dir=args.data_dir,
        crop=False,
        grid_size=args.eval_grid,
        rotate=rotated,
        shift=rotated,
        seed=rotation_seed,
        batch_size=None,
    )
    if args.test_chains:
        data = data.take(args.test_chains)
    examples = list(tfds.as_numpy(data))
    return tuple(np.stack([e[i] for e in examples]) for i in range(3))


def predict_residues(model, voxels, targets):
    """Predicted classes ``[N, R]`` at the residues, one chain at a time."""
    classes = []
    for x, t in zip(voxels, targets):
        out = model.predict(x[None], batch_size=1, verbose=0)
        logits = keras.ops.convert_to_numpy(residue_logits(out, t[None]))
        classes.append(logits[0].argmax(-1))
    return np.stack(classes)


def scores(predicted, labels):
    """Q3 and per-class F1 over the residues given (flat arrays)."""
    f1 = {}
    for index, name in enumerate(CLASS_NAMES):
        p, t = predicted == index, labels == index
        total = p.sum() + t.sum()
        f1[name] = float(2 * np.sum(p & t) / total) if total else float("nan")
    return {
        "q3": float(np.mean(predicted == labels)),
        "f1": f1,
        "residues": len(labels),
    }


def evaluate(model, evaluation):
    """``{orientation: scores}`` over the prepared test chains."""
    results = {}
    for orientation, passes in evaluation.items():
        predicted, labels = [], []
        for voxels, targets, weights in passes:
            classes = predict_residues(model, voxels, targets)
            mask = weights > 0
            predicted.append(classes[mask])
            labels.append(targets[..., 3][mask])
        results[orientation] = scores(np.concatenate(predicted), np.concatenate(labels))
    return results


def table(results):
    """Markdown rows: per net and orientation, Q3 and the per-class F1."""
    lines = [
        "| net | test chains | Q3 | F1 helix | F1 strand | F1 coil |",
        "|---|---|---|---|---|---|",
    ]
    for variant, by_orientation in results.items():
        for orientation in ORIENTATIONS:
            s = by_orientation[orientation]
            f1 = " | ".join(f"{s['f1'][n]:.3f}" for n in CLASS_NAMES)
            lines.append(
                f"| {variant} | {orientation} | {100 * s['q3']:.1f} % | {f1} |"
            )
    return "\n".join(lines)


def plot_chain(path, voxels, targets, weights, predictions):
    """The carbon density of the slice through the grid centre, and the residues
    within 2 voxels of it coloured by DSSP's class and by each net's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    middle = voxels.shape[2] // 2
    near = (weights > 0) & (np.abs(targets[:, 2] - middle) <= 2)
    colours = np.array(["tab:red", "tab:blue", "tab:gray"])
    panels = {"DSSP": targets[:, 3], **predictions}
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4))
    for axis, (title, classes) in zip(np.atleast_1d(axes), panels.items()):
        axis.imshow(voxels[:, :, middle, 0].T, origin="lower", cmap="Greys")
        axis.scatter(*targets[near, :2].T, c=colours[classes[near]], s=18)
        axis.set_title(title)
        axis.set_xticks([])
        axis.set_yticks([])
    handles = [
        plt.Line2D([], [], color=c, marker="o", linestyle="", label=n)
        for c, n in zip(colours, CLASS_NAMES)
    ]
    figure.legend(handles=handles, loc="lower center", ncol=3)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    experiment.add_unet_comparison_arguments(parser, steps=600)
    parser.add_argument("--levels", type=int, default=2, help="of the U-Nets")
    parser.add_argument(
        "--crop", type=int, default=33, help="training crop, voxels per side"
    )
    parser.add_argument(
        "--eval-grid",
        type=int,
        default=85,
        help="grid of the whole test chains (85 holds every chain at 1 Å in any "
        "orientation)",
    )
    parser.add_argument(
        "--test-rotations", type=int, default=5, help="random rotations per chain"
    )
    parser.add_argument("--test-chains", type=int, help="score the first N only")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    experiment.prepare_dataset("protein_sse", data_dir=args.data_dir)
    evaluation = {
        "deposited": [test_chains(args, "deposited", 0)],
        "rotated": [
            test_chains(args, "rotated", seed) for seed in range(args.test_rotations)
        ],
    }
    variants = ["se3_unet"] + ["unet_cnn"] * (not args.no_cnn)
    variants += ["unet_cnn-rotate"] * args.cnn_rotate
    results, models = {}, {}
    for variant in variants:
        model, seconds = train(variant, args)
        models[variant] = model
        results[variant] = {"train_seconds": round(seconds, 1)}
        results[variant] |= evaluate(model, evaluation)
    print()
    print(table(results))
    if args.export:
        from segmentation import export  # examples/segmentation.py

        sample = evaluation["rotated"][0][0][:1]
        errors = export(models["se3_unet"], args.export, sample)
        results["se3_unet"]["export_errors"] = errors
        print(f"\nexported se3_unet to {args.export}: relative errors {errors}")
    if args.plots:
        os.makedirs(args.plots, exist_ok=True)
        voxels, targets, weights = (a[0] for a in evaluation["rotated"][0])
        predictions = {
            variant: predict_residues(model, voxels[None], targets[None])[0]
            for variant, model in models.items()
        }
        path = os.path.join(args.plots, "proteins_slice.png")
        plot_chain(path, voxels, targets, weights, predictions)
        print(f"figure: {path}")
    minutes = (time.perf_counter() - start) / 60
    peak = machine.peak_memory_mb()
    for variant, result in results.items():
        per_step = result["train_seconds"] / args.steps
        print(f"{variant}: {per_step:.2f} s per training step")
    print(
        f"\n{minutes:.1f} min on {machine.usable_cores()} core(s) of "
        f"{machine.cpu_name()}, {args.steps} steps of batch {args.batch_size}, "
        f"crops {args.crop}^3; peak memory of the process (all nets) "
        + (f"{peak:.0f} MB" if peak else "unknown")
    )
    results["machine"] = {
        "cpu": machine.cpu_name(),
        "cores": machine.usable_cores(),
        "peak_memory_mb": peak,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)


if __name__ == "__main__":
    experiment.run_main(main)
