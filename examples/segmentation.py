"""Dense prediction: segment Tetris scenes and point every voxel at its piece's centre.

Trains :func:`keras_se3.models.se3_unet` and its plain-CNN counterpart
:func:`keras_se3.models.unet_cnn` on the ``tetris_scenes`` TFDS dataset: volumes
of 2-4 Tetris pieces, each voxel labelled with its class (background or one of
the 8 pieces) and with the vector from the voxel to the centre of its piece (an
order-1 field: the instance-centre regression of panoptic segmentation).  Every
net sees the training scenes with their pieces in the canonical orientation
only; the test scenes hold the same kind of pieces in the canonical orientation
(``test_canonical``) and, the same scenes, each piece rotated by its own random
rotation and voxelised again (``test``).  The CNN trained with random rotations
of the whole scene (``--cnn-rotate``) is the fair baseline.

Reported per net and test split: per-class Dice, mean IoU (the 9 classes), and
on the true foreground voxels the median angle (degrees) and length error
(voxels) of the predicted centre vectors.  The steerable net outputs the
vectors as a ``1x1`` field, so they turn with the pieces; the CNN has 3 plain
channels.

    python examples/segmentation.py                     # se3_unet + unet_cnn
    python examples/segmentation.py --cnn-rotate --steps 600 --plots /tmp/seg
    python examples/segmentation.py --export /tmp/seg   # collapse + ONNX check

``--export DIR`` collapses the trained ``se3_unet`` to stock Keras layers, writes
a SavedModel and an ONNX file there and checks onnxruntime against Keras;
``--plots DIR`` saves a slice of a rotated test scene: truth and prediction of
each net (classes and vectors).
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
from keras_se3.datasets.tetris_pieces import TETRIS_NAMES  # noqa: E402
from keras_se3.models import se3_unet, unet_cnn  # noqa: E402
from keras_se3.so3 import random_rotation  # noqa: E402
from keras_se3.transforms import resample_grid  # noqa: E402

CLASS_NAMES = ("background",) + TETRIS_NAMES
NUM_CLASSES = len(CLASS_NAMES)
#: The nets' output: class logits, then the centre vector (x, y, z).
OUT_FIELDS = f"{NUM_CLASSES}x0 + 1x1"
SPLITS = ("test_canonical", "test")


def scene_arrays(builder, split):
    """``(voxels [N, n, n, n, 1], targets [N, n, n, n, 4])`` of a split; the
    targets hold the class (as a float) and the centre vector of each voxel."""
    import tensorflow_datasets as tfds

    data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
    targets = np.concatenate(
        [data["segmentation"][..., None].astype("float32"), data["centroid_offset"]],
        axis=-1,
    )
    return data["voxels"].astype("float32"), targets


@keras.saving.register_keras_serializable(package="segmentation_example")
class SegmentationLoss(keras.losses.Loss):
    """Cross-entropy of the classes plus the squared error of the centre vectors.

    Pieces cover ~1-3 % of a scene: foreground voxels weigh ``foreground_weight``
    times the background in the cross-entropy, so that a net cannot win by calling
    everything background.  The vector error counts on foreground voxels only (the
    background has no piece to point at), in units of ``vector_scale`` voxels.
    """

    def __init__(self, foreground_weight=10.0, vector_scale=4.0, **kwargs):
        super().__init__(**kwargs)
        self.foreground_weight = foreground_weight
        self.vector_scale = vector_scale

    def call(self, y_true, y_pred):
        labels = ops.cast(y_true[..., 0], "int32")
        foreground = ops.cast(labels > 0, y_pred.dtype)
        weights = 1.0 + (self.foreground_weight - 1.0) * foreground
        ce = keras.losses.sparse_categorical_crossentropy(
            labels, y_pred[..., :NUM_CLASSES], from_logits=True
        )
        ce = ops.sum(ce * weights, axis=(1, 2, 3)) / ops.sum(weights, axis=(1, 2, 3))
        error = (y_pred[..., NUM_CLASSES:] - y_true[..., 1:]) / self.vector_scale
        error = ops.sum(ops.square(error), axis=-1) * foreground
        count = ops.maximum(ops.sum(foreground, axis=(1, 2, 3)), 1.0)
        return ce + ops.sum(error, axis=(1, 2, 3)) / count

    def get_config(self):
        return {
            **super().get_config(),
            "foreground_weight": self.foreground_weight,
            "vector_scale": self.vector_scale,
        }


class RotatedScenes(keras.utils.PyDataset):
    """Batches of training scenes, each rotated about the grid centre by a new
    Haar-random rotation: the CNN's rotation augmentation.  Voxels, the one-hot
    classes and the vectors are resampled (trilinear); the vectors also turn."""

    def __init__(self, voxels, targets, batch_size, steps, seed):
        super().__init__()
        self.voxels, self.targets = voxels, targets
        self.batch_size, self.steps = batch_size, steps
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        picks = self.rng.choice(len(self.voxels), self.batch_size, replace=False)
        x, y = [], []
        for i, rotation in zip(picks, random_rotation(self.batch_size, self.rng)):
            x.append(resample_grid(self.voxels[i][None], rotation, order=1)[0])
            y.append(rotate_targets(self.targets[i], rotation))
        return np.stack(x).astype("float32"), np.stack(y).astype("float32")


def rotate_targets(target, rotation):
    """A scene's ``[n, n, n, 4]`` targets rotated: classes by trilinear resampling
    of their one-hot encoding (then the most likely one), vectors as a ``1x1``
    field (resampled and turned by ``rotation``)."""
    one_hot = np.eye(NUM_CLASSES, dtype="float32")[target[..., 0].astype(int)]
    fields = np.concatenate([one_hot, target[..., 1:]], axis=-1)[None]
    rotated = resample_grid(fields, rotation, OUT_FIELDS, order=1)[0]
    labels = rotated[..., :NUM_CLASSES].argmax(-1)
    vectors = rotated[..., NUM_CLASSES:] * (labels > 0)[..., None]
    return np.concatenate([labels[..., None].astype("float32"), vectors], -1)


def build(variant, grid):
    shape = (grid, grid, grid, 1)
    if variant == "se3_unet":
        return se3_unet("1x0", OUT_FIELDS, input_shape=shape)
    return unet_cnn(1, NUM_CLASSES + 3, input_shape=shape, name=variant)


def train(variant, arrays, args):
    """A compiled and trained net of ``variant``; returns ``(model, seconds)``."""
    keras.utils.set_random_seed(args.seed)
    voxels, targets = arrays
    model = build(variant, voxels.shape[1])
    schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate, args.steps)
    optimizer = keras_se3.optimizers.Adam(schedule)
    model.compile(optimizer=optimizer, loss=SegmentationLoss())
    batches = (voxels, targets, args.batch_size, args.steps, args.seed)
    if variant == "unet_cnn-rotate":
        data = RotatedScenes(*batches)
    else:
        data = _shuffled_batches(*batches)
    start = time.perf_counter()
    print(f"\n{variant}: {experiment.trainable_parameters(model):,} parameters")
    fit = dict(epochs=1, steps_per_epoch=args.steps, verbose=args.verbose)
    model.fit(data, shuffle=False, **fit)  # the batches are shuffled already
    return model, time.perf_counter() - start


def _shuffled_batches(voxels, targets, batch_size, steps, seed):
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((voxels, targets))
    data = data.shuffle(len(voxels), seed=seed).repeat().batch(batch_size)
    return data.take(steps).prefetch(2)


def predict(model, voxels, batch_size):
    """``(classes [N, n, n, n], vectors [N, n, n, n, 3])`` predicted."""
    out = model.predict(voxels, batch_size=batch_size, verbose=0)
    return out[..., :NUM_CLASSES].argmax(-1), out[..., NUM_CLASSES:]


def scores(classes, vectors, targets):
    """Per-class Dice, mean IoU and the centre vectors' median errors.

    Dice and IoU count voxels over the whole split; a class that neither the
    truth nor the prediction holds is left out of the mean.  Vector errors are
    taken on the true foreground voxels at least half a voxel from their piece's
    centre (closer, the direction is not defined).
    """
    truth = targets[..., 0].astype(int)
    dice, iou = {}, []
    for index, name in enumerate(CLASS_NAMES):
        p, t = classes == index, truth == index
        both, total = np.sum(p & t), np.sum(p) + np.sum(t)
        if total:
            dice[name] = float(2 * both / total)
            iou.append(both / (total - both))
    true_vectors = targets[..., 1:]
    length = np.linalg.norm(true_vectors, axis=-1)
    mask = (truth > 0) & (length >= 0.5)
    p, t = vectors[mask], true_vectors[mask]
    cosine = np.sum(p * t, -1) / (np.linalg.norm(p, axis=-1) * length[mask] + 1e-12)
    angles = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
    return {
        "dice": dice,
        "mean_iou": float(np.mean(iou)),
        "vector_angle_deg": float(np.median(angles)),
        "vector_length_error": float(
            np.median(np.abs(np.linalg.norm(p, axis=-1) - length[mask]))
        ),
    }


def table(results):
    """Markdown rows: per net and split, mean IoU, mean foreground Dice, vectors."""
    lines = [
        "| net | split | mean IoU | Dice (pieces) | vector angle | length error |",
        "|---|---|---|---|---|---|",
    ]
    for variant, by_split in results.items():
        for split in SPLITS:
            s = by_split[split]
            pieces = [s["dice"][n] for n in TETRIS_NAMES if n in s["dice"]]
            lines.append(
                f"| {variant} | {split} | {s['mean_iou']:.3f} | "
                f"{np.mean(pieces):.3f} | {s['vector_angle_deg']:.1f}° | "
                f"{s['vector_length_error']:.2f} vox |"
            )
    return "\n".join(lines)


def plot_scene(path, voxels, targets, predictions):
    """The slice of a rotated test scene with the most foreground: the input, the
    true classes and centre vectors, then each net's classes and its vectors on
    the voxels it calls foreground (``keras_se3.plot.plot_field_slice``)."""
    from keras_se3.plot import plot_field_slice

    panels = [
        ("input", voxels),
        ("true class", targets[..., 0:1]),
        ("true centre vectors", targets[..., 1:]),
    ]
    for variant, (classes, vectors) in predictions.items():
        panels.append((f"{variant}: class", classes[..., None].astype("float32")))
        panels.append((f"{variant}: vectors", vectors * (classes > 0)[..., None]))
    fields = " + ".join("1x1" if p.shape[-1] == 3 else "1x0" for _, p in panels)
    volume = np.concatenate([p for _, p in panels], axis=-1)
    index = int(np.argmax(np.sum(targets[..., 0] > 0, axis=(0, 1))))
    # Arrows at their length in voxels: each points at its piece's centre.
    fig = plot_field_slice(
        volume, fields, axis="z", index=index, ncols=3, arrow_step=1, arrow_scale=1
    )
    images = [ax for ax in fig.axes if ax.get_xlabel() == "x"]  # not colour bars
    for ax, (title, _) in zip(images, panels):
        ax.set_title(title, fontsize=9)
        if "class" in title:  # the same colour for a class in every panel
            ax.images[0].set_cmap("tab10")
            ax.images[0].set_clim(0, 9)
    fig.suptitle(f"a rotated test scene (test split), slice z = {index}")
    fig.savefig(path, dpi=100)


def export(model, directory, sample):
    """Collapse ``model`` and write ``collapsed.keras``, ``model.onnx`` and
    ``saved_model/`` to ``directory``, each checked against ``model`` on
    ``sample`` (onnxruntime for the ONNX file); returns the relative errors."""
    from keras_se3.export import to_saved_model

    os.makedirs(directory, exist_ok=True)
    paths = {
        "collapsed": os.path.join(directory, "collapsed.keras"),
        "onnx": os.path.join(directory, "model.onnx"),
    }
    errors = experiment.export_trained(model, paths, sample)
    errors["saved_model"] = float(
        to_saved_model(
            model,
            os.path.join(directory, "saved_model"),
            check=True,
            check_inputs=[sample],
            tolerance=1e-3,
        )
    )
    return errors


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    experiment.add_unet_comparison_arguments(parser, steps=400)
    parser.add_argument("--dataset-config", default="default", help="of tetris_scenes")
    parser.add_argument("--train-scenes", type=int, help="use the first N only")
    parser.add_argument("--test-scenes", type=int, help="score the first N only")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    builder = experiment.prepare_dataset(
        f"tetris_scenes/{args.dataset_config}", data_dir=args.data_dir
    )
    train_arrays = scene_arrays(builder, "train")
    if args.train_scenes:
        train_arrays = tuple(a[: args.train_scenes] for a in train_arrays)
    tests = {split: scene_arrays(builder, split) for split in SPLITS}
    if args.test_scenes:
        tests = {k: tuple(a[: args.test_scenes] for a in v) for k, v in tests.items()}
    variants = ["se3_unet"] + ["unet_cnn"] * (not args.no_cnn)
    variants += ["unet_cnn-rotate"] * args.cnn_rotate
    results, models, predictions = {}, {}, {}
    for variant in variants:
        model, seconds = train(variant, train_arrays, args)
        models[variant] = model
        results[variant] = {"train_seconds": round(seconds, 1)}
        for split, (voxels, targets) in tests.items():
            classes, vectors = predict(model, voxels, args.batch_size)
            results[variant][split] = scores(classes, vectors, targets)
            if split == "test":
                predictions[variant] = (classes[0], vectors[0])
    print()
    print(table(results))
    if args.export:
        sample = tests["test"][0][:2]
        errors = export(models["se3_unet"], args.export, sample)
        results["se3_unet"]["export_errors"] = errors
        print(f"\nexported se3_unet to {args.export}: relative errors {errors}")
    if args.plots:
        os.makedirs(args.plots, exist_ok=True)
        voxels, targets = tests["test"]
        path = os.path.join(args.plots, "segmentation_slice.png")
        plot_scene(path, voxels[0], targets[0], predictions)
        print(f"figure: {path}")
    minutes = (time.perf_counter() - start) / 60
    print(
        f"\n{minutes:.1f} min on {machine.usable_cores()} core(s) of "
        f"{machine.cpu_name()}, {args.steps} steps of batch {args.batch_size}"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)


if __name__ == "__main__":
    experiment.run_main(main)
