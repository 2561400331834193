"""keras_se3's side of the parity tool: the reference's net, weights and data in ours.

Reads the ``.npz`` written by ``reference_side.py`` (the paper's own Tetris code,
run in its own environment), builds keras_se3's ``tetris_net`` with the options
that make it the same network (paper basis, padding 4, input low-pass and
low-passes of se3cnn's width, gates, no batch norm, ``scaled_basis``), loads the
reference's weights into it and compares:

1. **forward**: the input low-pass, every gated block's output and the logits
   (inference mode), as the relative error ``max|ours - ref| / max|ref|``;
2. **gradient**: the cross-entropy's gradient for every parameter, mapped to the
   reference's coordinates;
3. **training** (if the reference trained): the loss at every step of the
   reference's schedule from the same start on the same 8 volumes.

The two codes write order-l fields in different real bases.  The map is fitted,
not assumed: ``Q_l`` from the reference's spherical harmonics at random points
against :func:`keras_se3.so3.spherical_harmonics` (``Y_ref = s Q_l Y_ours`` with
``Q_l`` orthogonal), and for every pair of orders the reference's basis kernels,
written in keras_se3's components, are solved for as combinations of keras_se3's
basis kernels (least squares; the residual is printed, ~4e-8 with the reference's
float32 buffers, and above 1e-5 stops the comparison).
The coefficients then map linearly: ``c_ours = w_ref T``, and the gradients map
back with ``T``'s transpose.

    python benchmarks/reference/parity.py build/reference/ref_20.npz
"""

import argparse
import json
import math
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_se3.optimizers  # noqa: E402
from keras_se3 import FieldType  # noqa: E402
from keras_se3.basis import kernel_basis  # noqa: E402
from keras_se3.models import PAPER_CODE_OPTIONS, tetris_net  # noqa: E402
from keras_se3.models.tetris import TETRIS_LAYERS  # noqa: E402
from keras_se3.so3 import spherical_harmonics  # noqa: E402

BLOCKS = [f"gated_{k + 1}" for k in range(len(TETRIS_LAYERS))]
# Our layers whose outputs are compared, and the reference's recorded outputs.
PROBED = ["input_blur", *BLOCKS]
RECORDED = ["act/input", *[f"act/block{k + 1}" for k in range(len(BLOCKS))]]


def relative_error(ours, ref):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    return float(np.abs(ours - ref).max() / max(np.abs(ref).max(), 1e-30))


def fit_conventions(record, lmax=3):
    """``Q_l`` (orthogonal) with ``Y_ref^l = s_l Q_l Y_ours^l``; prints ``s_l``."""
    points = record["sh_points"]
    conventions = {}
    for l in range(lmax + 1):
        ours = spherical_harmonics(l, points)
        ref = record[f"sh/{l}"]
        q = np.linalg.lstsq(ours, ref, rcond=None)[0].T  # ref = ours @ q.T
        residual = relative_error(ours @ q.T, ref)
        scale = math.sqrt(np.mean(np.sum(q**2, axis=1)))
        q = q / scale
        orthogonality = float(np.abs(q @ q.T - np.eye(2 * l + 1)).max())
        print(
            f"  l={l}: Y_ref = {scale:.6f} Q Y_ours, fit residual {residual:.1e}, "
            f"|Q Q^T - 1| {orthogonality:.1e}"
        )
        if residual > 1e-8 or orthogonality > 1e-8:
            sys.exit(
                f"no orthogonal change of basis maps order {l}: conventions differ"
            )
        conventions[l] = q
    return conventions


def field_matrix(field_type, conventions):
    """``[C, C]`` block-diagonal: a row vector of ref channels times it is ours."""
    field_type = FieldType(field_type)
    matrix = np.zeros((field_type.dim, field_type.dim))
    for l, channels in zip(field_type.field_orders, field_type.slices()):
        matrix[channels, channels] = conventions[int(l)]
    return matrix


def reference_blocks():
    """Per gated block: (prefix, Rs_in, Rs_out + gates), as the reference lists them."""
    blocks, fields_in = [], [(1, 0)]
    for index, (fields, _stride) in enumerate(TETRIS_LAYERS):
        terms = [(m, l) for m, l in FieldType(fields).terms]
        gates = sum(m for m, l in terms if l > 0)
        rs_out = terms + ([(gates, 0)] if gates else [])
        blocks.append((f"sequence.{index}", fields_in, rs_out))
        fields_in = terms
    return blocks


class BlockMap:
    """The linear map between one block's reference weights and our coefficients."""

    def __init__(self, record, prefix, rs_in, rs_out, conventions):
        self.prefix, self.rs_in, self.rs_out = prefix, rs_in, rs_out
        in_type = FieldType(rs_in)
        out_type = FieldType(rs_out)
        in_orders = sorted({l for _, l in rs_in})
        out_orders = sorted({l for _, l in rs_out})
        self.n_coefficients = 0
        # Our flat layout: l_out outer, l_in inner, [mult_in, mult_out, n_basis].
        offsets, shapes = {}, {}
        for l_out in out_orders:
            for l_in in in_orders:
                n = len(kernel_basis(l_in, l_out, 5, basis="paper"))
                if n:
                    shape = (
                        in_type.multiplicity(l_in),
                        out_type.multiplicity(l_out),
                        n,
                    )
                    offsets[l_in, l_out] = self.n_coefficients
                    shapes[l_in, l_out] = shape
                    self.n_coefficients += math.prod(shape)
        fan_in = sum(m for m, _ in rs_in)
        # Per reference pair (i, j): (slice of the reference's flat weight, T,
        # our pair, the offset of this output group within our mult_out).
        self.pairs = []
        ref_offset, worst = 0, 0.0
        # How far each T is from orthogonal: if T T^T = 1, N(0, 1) weights of the
        # reference and N(0, 1) coefficients of ours are the same kernel
        # distribution (the two codes' initialisations agree).
        self.orthogonality = 0.0
        out_start = {}
        for i, (m_out, l_out) in enumerate(rs_out):
            start = out_start.get(l_out, 0)
            out_start[l_out] = start + m_out
            for j, (m_in, l_in) in enumerate(rs_in):
                ref = record[f"buffer/{prefix}.conv.kernel.kernel_{i}_{j}"]
                ref = np.asarray(ref, np.float64)
                ref_ours = np.einsum(
                    "Po,bPIxyz,Ii->bxyzio",
                    conventions[l_out],
                    ref,
                    conventions[l_in],
                )
                ours = kernel_basis(l_in, l_out, 5, basis="paper")
                ours = ours * math.sqrt((2 * l_out + 1) / (len(ours) * fan_in))
                a = ours.reshape(len(ours), -1)
                t = np.linalg.lstsq(a.T, ref_ours.reshape(len(ref), -1).T, rcond=None)
                t = t[0].T  # ref_ours = t @ ours
                worst = max(
                    worst, relative_error(t @ a, ref_ours.reshape(len(ref), -1))
                )
                self.orthogonality = max(
                    self.orthogonality, float(np.abs(t @ t.T - np.eye(len(t))).max())
                )
                size = m_out * m_in * len(ref)
                self.pairs.append(
                    (
                        slice(ref_offset, ref_offset + size),
                        (m_out, m_in, len(ref)),
                        t,
                        (l_in, l_out),
                        start,
                    )
                )
                ref_offset += size
        self.basis_residual = worst
        self.offsets, self.shapes = offsets, shapes

    def to_ours(self, weight):
        """Reference flat weight -> our flat coefficients."""
        ours = {key: np.zeros(shape) for key, shape in self.shapes.items()}
        for window, shape, t, key, start in self.pairs:
            w = weight[window].reshape(shape)  # [u out, v in, b']
            c = np.einsum("uvB,Bb->vub", w, t)
            ours[key][:, start : start + shape[0], :] = c
        return self._flatten(ours)

    def gradient_to_ref(self, grad):
        """Our coefficients' gradient -> the reference weight's gradient."""
        blocks = {
            key: grad[self.offsets[key] : self.offsets[key] + math.prod(shape)].reshape(
                shape
            )
            for key, shape in self.shapes.items()
        }
        parts = []
        for _window, shape, t, key, start in self.pairs:
            g = blocks[key][:, start : start + shape[0], :]  # [v, u, b]
            parts.append(np.einsum("vub,Bb->uvB", g, t).ravel())
        return np.concatenate(parts)

    def _flatten(self, blocks):
        flat = np.zeros(self.n_coefficients)
        for key, block in blocks.items():
            flat[self.offsets[key] : self.offsets[key] + block.size] = block.ravel()
        return flat


def build_ours(record, dropout):
    grid = record["train_x"].shape[-1]
    return tetris_net(
        **PAPER_CODE_OPTIONS, dropout=dropout, input_shape=(grid, grid, grid, 1)
    )


def load_reference_weights(model, record, maps, prefix="param/"):
    for name, block_map in zip(BLOCKS, maps):
        block = model.get_layer(name)
        p = f"{prefix}{block_map.prefix}"
        block.conv.coefficients.assign(
            block_map.to_ours(record[f"{p}.conv.kernel.weight"])
        )
        if block.gate.bias is not None:
            block.gate.bias.assign(record[f"{p}.scalar_act.bias"])
        if block.gate.gate_bias is not None:
            block.gate.gate_bias.assign(record[f"{p}.gate_act.bias"])
    dense = model.get_layer("logits")
    dense.kernel.assign(record[f"{prefix}sequence.6.weight"].T)
    dense.bias.assign(record[f"{prefix}sequence.6.bias"])


def keep_own(model, own, start):
    """Put keras_se3's own initial weights ``own`` back into ``model`` (which holds
    the reference's): all of them (``"own"``), the classifier only
    (``"own-classifier"``) or all but the classifier (``"own-convs"``)."""
    classifier = {id(v) for v in model.get_layer("logits").weights}
    for variable, value in zip(model.weights, own):
        in_classifier = id(variable) in classifier
        if start == "own" or (start == "own-classifier") == in_classifier:
            variable.assign(value)


def forward_parity(model, record, conventions, x):
    names = [*PROBED, "logits"]
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    outputs = probe(x, training=False)
    rows = []
    types = ["1x0", *[fields for fields, _ in TETRIS_LAYERS]]
    for name, fields, key, ours in zip(names, types, RECORDED, outputs):
        ref = np.moveaxis(record[key], 1, -1) @ field_matrix(fields, conventions)
        rows.append((name, tuple(ref.shape[1:4]), relative_error(ours, ref)))
    rows.append(("logits", (), relative_error(outputs[-1], record["logits"])))
    return rows


def start_scale(model, x, y):
    """Root mean square of the input low-pass and of every block's output, and the
    cross-entropy, in inference mode: how large the signal of a start is."""
    names = [*PROBED, "logits"]
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    *outputs, logits = probe(x, training=False)
    rms = {n: float(np.sqrt(np.mean(np.square(o)))) for n, o in zip(PROBED, outputs)}
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return rms, float(loss_fn(y, logits))


def reference_start_scale(record):
    """:func:`start_scale` of the reference's start, from its recorded outputs
    (the root mean square does not depend on the real basis of the fields)."""
    rms = {
        n: float(np.sqrt(np.mean(np.square(record[k]))))
        for n, k in zip(PROBED, RECORDED)
    }
    return rms, float(record["loss"])


def print_start_scales(scales):
    print("\nthe start's signal, root mean square per block (inference mode), loss:")
    for who, (rms, loss) in scales.items():
        values = "  ".join(f"{n} {v:.4f}" for n, v in rms.items())
        print(f"  {who:<10} {values}  loss {loss:.4f}")


def gradient_parity(model, record, maps, x, y):
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=False))
    grads = tape.gradient(loss, model.trainable_variables)
    by_path = {v.path: g.numpy() for v, g in zip(model.trainable_variables, grads)}
    rows = [("loss", relative_error(float(loss), record["loss"]))]
    for name, block_map in zip(BLOCKS, maps):
        p = f"grad/{block_map.prefix}"
        ours = block_map.gradient_to_ref(by_path[f"{name}/conv/coefficients"])
        rows.append(
            (
                f"{name} coefficients",
                relative_error(ours, record[f"{p}.conv.kernel.weight"]),
            )
        )
        if f"{p}.scalar_act.bias" in record:
            rows.append(
                (
                    f"{name} bias",
                    relative_error(
                        by_path[f"{name}/gate/bias"], record[f"{p}.scalar_act.bias"]
                    ),
                )
            )
        if f"{p}.gate_act.bias" in record:
            rows.append(
                (
                    f"{name} gate bias",
                    relative_error(
                        by_path[f"{name}/gate/gate_bias"], record[f"{p}.gate_act.bias"]
                    ),
                )
            )
    rows.append(
        (
            "logits kernel",
            relative_error(
                by_path["logits/kernel"].T, record["grad/sequence.6.weight"]
            ),
        )
    )
    rows.append(
        (
            "logits bias",
            relative_error(by_path["logits/bias"], record["grad/sequence.6.bias"]),
        )
    )
    return rows


def train_side_by_side(model, record, x, y, optimizer_name, epsilon=None):
    """The reference's schedule (lr 0.1 for steps 0..100, then x0.98 per step),
    Adam, full batch, from the loaded start; the loss of every step.

    ``"keras_se3"``: ``keras_se3.optimizers.Adam`` (epsilon after the bias
    correction, as torch.optim.Adam); ``"keras"``: ``keras.optimizers.Adam``.
    ``epsilon``: None for each one's default (1e-8, 1e-7)."""
    steps = len(record["losses"])
    schedule = [0.1 if s <= 100 else 0.1 * 0.98 ** (s - 100) for s in range(steps)]
    kind = (
        keras_se3.optimizers.Adam
        if optimizer_name == "keras_se3"
        else keras.optimizers.Adam
    )
    optimizer = kind(schedule[0], **({} if epsilon is None else {"epsilon": epsilon}))
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    variables = model.trainable_variables

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    losses = []
    for lr in schedule:
        optimizer.learning_rate.assign(lr)
        losses.append(float(step()))
    return np.array(losses)


def write_fixture(path, record, maps, x, y):
    """The reference's start mapped to keras_se3's trainable weights (by path),
    its volumes and losses: a test trains from it without the reference."""
    model = build_ours(record, float(record.get("dropout", 0.2)))
    load_reference_weights(model, record, maps)
    weights = {
        f"weight:{v.path}": np.asarray(v, np.float32) for v in model.trainable_variables
    }
    np.savez_compressed(
        path,
        x=x.astype(np.float32),
        y=y.astype(np.int64),
        losses=record["losses"],
        dropout=record["dropout"],
        **weights,
    )
    print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("record", help=".npz written by reference_side.py")
    parser.add_argument(
        "--optimizer",
        choices=("keras_se3", "keras"),
        default="keras_se3",
        help="train with keras_se3.optimizers.Adam (the paper code's update) or "
        "keras.optimizers.Adam",
    )
    parser.add_argument("--epsilon", type=float, help="Adam's (default: its own)")
    parser.add_argument(
        "--start",
        choices=("reference", "own", "own-classifier", "own-convs"),
        default="reference",
        help="the weights training starts from: the reference's (default), "
        "keras_se3's own initialisers (seeded by --seed), or the reference's with "
        "only the classifier (own-classifier) or only the convolutions and gates "
        "(own-convs) from keras_se3's; the volumes are the reference's either way",
    )
    parser.add_argument("--seed", type=int, default=0, help="of --start own*")
    parser.add_argument("--json", help="also write the numbers here")
    parser.add_argument(
        "--fixture",
        help="write the reference's start (in keras_se3's layout), its 8 volumes and "
        "its per-step losses here: tests/models/data/ holds one for the suite",
    )
    args = parser.parse_args(argv)

    record = dict(np.load(args.record))
    if record["logits"].dtype == np.float64:
        keras.config.set_floatx("float64")  # the reference ran in float64
    x = np.moveaxis(record["train_x"], 1, -1)
    y = record["train_y"]
    print(f"reference record {args.record}: {x.shape[1]}^3 grid")
    print("conventions (fitted):")
    conventions = fit_conventions(record)
    maps = [BlockMap(record, *block, conventions) for block in reference_blocks()]
    residual = max(m.basis_residual for m in maps)
    print(f"basis map: reference kernels = T @ ours, worst residual {residual:.1e}")
    orthogonality = max(m.orthogonality for m in maps)
    print(
        f"basis map: |T T^T - 1| <= {orthogonality:.1e} (0: both codes' N(0, 1) "
        "weights draw the same kernels)"
    )
    if residual > 1e-5:  # float32 buffers give ~4e-8
        sys.exit("the reference's basis is not spanned by keras_se3's: bases differ")

    trained = "losses" in record
    keras.utils.set_random_seed(args.seed)
    model = build_ours(record, float(record.get("dropout", 0.2)))
    own = [np.asarray(w) for w in model.get_weights()]
    load_reference_weights(model, record, maps)
    forward = forward_parity(model, record, conventions, x)
    print("\nforward (inference mode), relative error max|ours-ref|/max|ref|:")
    for name, shape, error in forward:
        print(f"  {name:<12} {str(shape):<14} {error:.1e}")
    gradient = gradient_parity(model, record, maps, x, y)
    print("\ngradient of the cross-entropy, relative error per parameter:")
    for name, error in gradient:
        print(f"  {name:<26} {error:.1e}")
    result = {
        "grid": int(x.shape[1]),
        "basis_residual": residual,
        "basis_orthogonality": orthogonality,
        "forward": {n: e for n, _, e in forward},
        "gradient": dict(gradient),
    }
    if args.start != "reference":
        if args.fixture:
            sys.exit("--fixture writes the reference's start: use --start reference")
        keep_own(model, own, args.start)
        scales = {"reference": reference_start_scale(record)}
        scales[f"{args.start} (seed {args.seed})"] = start_scale(model, x, y)
        print_start_scales(scales)
        result["start_scale"] = {
            who: {"rms": rms, "loss": loss} for who, (rms, loss) in scales.items()
        }
        print(f"\ntraining from {args.start} start (seed {args.seed})")
    if trained:
        ours = train_side_by_side(model, record, x, y, args.optimizer, args.epsilon)
        ref = record["losses"]
        print("\ntraining, loss per step (reference | keras_se3):")
        for s in range(len(ref)):
            if s < 10 or s % 10 == 0 or s == len(ref) - 1:
                print(f"  step {s:3d}  {ref[s]:.6f}  {ours[s]:.6f}")
        result["losses"] = {"reference": ref.tolist(), "ours": ours.tolist()}
    if "test_x" in record:
        test_x = np.moveaxis(record["test_x"], 1, -1)
        logits = model.predict(test_x, batch_size=16, verbose=0)
        accuracy = float(np.mean(np.argmax(logits, -1) == record["test_y"]))
        print(
            f"\naccuracy on the reference's {len(test_x)} test pieces: reference "
            f"{100 * float(record['accuracy']):.2f} %, keras_se3 {100 * accuracy:.2f} %"
        )
        result["accuracy"] = {"reference": float(record["accuracy"]), "ours": accuracy}
    if args.fixture:
        if not trained:
            sys.exit("--fixture needs a record of a reference run with --steps")
        write_fixture(args.fixture, record, maps, x, y)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)
    return result


if __name__ == "__main__":
    main()
