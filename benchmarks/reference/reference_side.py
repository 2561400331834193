"""The reference side of the parity tool: runs the paper's own Tetris code.

Runs in its own virtual environment (requirements.txt beside this file: PyTorch
CPU, lie_learn, numpy < 2), never in keras_se3's.  It loads the Tetris script of
the paper's runs (``examples/image/tetris.py`` of an e3nn checkout at commit
fca7227c, the last with the analytic ``SE3Kernel``) from ``--tree``, builds its
``SE3Net`` exactly as that script does for a seed, and writes one ``.npz`` with
everything keras_se3's side (``parity.py``) needs to compare against:

- ``param/<name>``, ``buffer/<name>``: the initial ``state_dict`` (the basis
  kernels are buffers ``kernel_i_j``);
- ``train_x``, ``train_y``: the 8 training volumes of the script's ``get_volumes``
  (one random rotation each, as the script trains); ``canonical_x``: the same
  pieces unrotated;
- ``sh_points``, ``sh/<l>``: the reference's real spherical harmonics at fixed
  random points, from which the change of basis between the two codes'
  conventions is fitted (nothing about conventions is assumed);
- ``act/input``, ``act/block<k>``, ``logits``: the low-passed input, every gated
  block's output and the logits in inference mode;
- ``loss``, ``grad/<name>``: cross-entropy of those logits and its gradient for
  every parameter;
- with ``--steps N``: ``losses`` (one per step) of the script's own ``train``
  and the trained parameters ``final/<name>``;
- with ``--tests N``: N random test sets of 8 drawn as the script draws them
  (``test_x``, ``test_y``), the script's ``accuracy`` on them and the predicted
  classes (``test_pred``).

The script makes its pieces by ``scipy.ndimage.zoom(order=0)`` of the 4^3
occupancy grid, which (aligning the corners) makes the cubes unequal: 2, 4, 4, 2
voxels wide along each axis for a 12-voxel box, so the 8 pieces have 48 to 96
voxels.  ``--pieces equal-cubes`` runs the same script on pieces of equal cubes
(each cell repeated ``size / 4`` times), as the paper describes them and as
keras_se3's ``tetris`` dataset makes them; everything else stays the script's.

The script's source is executed with ``.cuda()`` removed on CPU (``--device
cpu``, the default without a CUDA GPU) and unchanged on a CUDA GPU (``--device
cuda``; the net is drawn on the CPU either way, so a seed gives the same start;
the GPU path could not be run where this was written: no GPU); two library
renames since 2020 are bridged: ``scipy.special.sph_harm`` (removed in SciPy
1.15, used by lie_learn) and ``scipy.linalg.eigh(eigvals=...)`` (now
``subset_by_index``), both the same functions under new names.

    REF/bin/python benchmarks/reference/reference_side.py --tree E3NN_CHECKOUT \\
        --size 12 --pad 4 --seed 0 --out build/reference/ref_20.npz
"""

import argparse
import functools
import os
import sys
import time
import types

import numpy as np
import scipy.linalg
import scipy.special
import torch


def _bridge_scipy():
    """Old SciPy names used by lie_learn and the 2020 e3nn tree."""
    if not hasattr(scipy.special, "sph_harm"):

        def sph_harm(m, n, theta, phi):  # azimuth theta, polar phi (old order)
            return scipy.special.sph_harm_y(
                np.asarray(n).astype(np.int64),
                np.asarray(m).astype(np.int64),
                np.asarray(phi, dtype=float),
                np.asarray(theta, dtype=float),
            )

        scipy.special.sph_harm = sph_harm

    eigh = scipy.linalg.eigh

    @functools.wraps(eigh)
    def eigh_with_eigvals(*args, eigvals=None, **kwargs):
        if eigvals is not None:
            kwargs["subset_by_index"] = eigvals
        return eigh(*args, **kwargs)

    scipy.linalg.eigh = eigh_with_eigvals


def load_tetris_script(tree, device="cpu"):
    """The reference's Tetris script as a module: its ``.cuda()`` calls removed
    for ``device="cpu"``, kept for ``"cuda"``."""
    path = os.path.join(tree, "examples", "image", "tetris.py")
    if not os.path.isfile(path) or not os.path.isdir(os.path.join(tree, "e3nn")):
        sys.exit(
            f"--tree {tree!r} is not an e3nn checkout with examples/image/tetris.py "
            "and e3nn/ (commit fca7227c has both)."
        )
    sys.path[:0] = [tree, os.path.join(tree, "examples", "image")]
    with open(path) as handle:
        source = handle.read()
    if device == "cpu":
        source = source.replace(".cuda()", "")
    module = types.ModuleType("reference_tetris")
    exec(compile(source, path, "exec"), module.__dict__)
    return module


class RecordingFunctional(types.SimpleNamespace):
    """``torch.nn.functional`` with ``cross_entropy`` recording each loss value."""

    def __init__(self):
        super().__init__(**vars(torch.nn.functional))
        self.losses = []
        plain = torch.nn.functional.cross_entropy

        def cross_entropy(*args, **kwargs):
            loss = plain(*args, **kwargs)
            self.losses.append(loss.item())
            return loss

        self.cross_entropy = cross_entropy


def equal_cubes(volume, factor, order=0):
    """Stands in for the script's ``zoom(volume, size / 4, order=0)``: every cell
    of the 4^3 occupancy grid becomes a cube of ``factor`` voxels per edge."""
    k = int(round(factor))
    assert k == factor and order == 0, (factor, order)
    return np.kron(volume, np.ones((k, k, k)))


def spherical_harmonics_samples(points, lmax=3):
    from e3nn.SO3 import spherical_harmonics_xyz

    xyz = torch.tensor(points, dtype=torch.float64)
    return {
        f"sh/{l}": np.stack([spherical_harmonics_xyz(l, p).numpy() for p in xyz])
        for l in range(lmax + 1)
    }


def to_numpy(tensor):
    """A copy in host memory (``.numpy()`` alone shares memory on the CPU)."""
    return tensor.detach().cpu().numpy().copy()


def forward_and_gradients(script, net, volumes, labels, device):
    """Activations (inference mode), logits, loss and parameter gradients."""
    net.eval()
    acts = {}
    hooks = [
        block.register_forward_hook(
            lambda _m, _i, out, k=k: acts.__setitem__(f"act/block{k + 1}", out)
        )
        for k, block in enumerate(net.sequence[:4])
    ]
    hooks.append(
        net.sequence.register_forward_hook(
            lambda _m, inp, _o: acts.__setitem__("act/input", inp[0])
        )
    )
    x = torch.tensor(volumes, dtype=torch.get_default_dtype(), device=device)
    logits = net(x)
    loss = torch.nn.functional.cross_entropy(
        logits, torch.tensor(labels, device=device)
    )
    net.zero_grad()
    loss.backward()
    for hook in hooks:
        hook.remove()
    out = {key: to_numpy(value) for key, value in acts.items()}
    out["logits"] = to_numpy(logits)
    out["loss"] = np.float64(loss.item())
    for name, param in net.named_parameters():
        out[f"grad/{name}"] = to_numpy(param.grad)
    net.zero_grad()
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", required=True, help="e3nn checkout at fca7227c")
    parser.add_argument("--size", type=int, default=12, help="piece box edge (voxels)")
    parser.add_argument("--pad", type=int, default=4, help="zeros on each side")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=0, help="run the script's train")
    parser.add_argument("--tests", type=int, default=0, help="test sets of 8 after it")
    parser.add_argument(
        "--dropout",
        type=float,
        help="override the classifier's dropout (0 makes training deterministic)",
    )
    parser.add_argument(
        "--float64",
        action="store_true",
        help="forward and gradient in float64 (separates float32 rounding from "
        "real differences); no training",
    )
    parser.add_argument(
        "--pieces",
        choices=("script", "equal-cubes"),
        default="script",
        help="the script's zoomed pieces (unequal cubes) or equal cubes",
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="where the script runs (default: cuda if PyTorch sees a CUDA GPU)",
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--workdir", help="basis cache directory (default: --out's)")
    parser.add_argument("--out", required=True, help=".npz to write")
    args = parser.parse_args(argv)

    out_path = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    tree = os.path.abspath(args.tree)
    _bridge_scipy()
    os.chdir(args.workdir or os.path.dirname(out_path))  # cache/sh_cube goes here
    torch.set_num_threads(args.threads)
    if args.float64:
        if args.steps:
            parser.error("--float64 compares one forward and backward pass only")
        torch.set_default_dtype(torch.float64)
    script = load_tetris_script(tree, args.device)
    if args.pieces == "equal-cubes":
        if args.size % 4:
            parser.error("--pieces equal-cubes needs a --size divisible by 4")
        script.zoom = equal_cubes

    # Computing the basis for the first time draws random numbers (e3nn caches it
    # on disk): build the net once before seeding, so that a seed gives the same
    # start whether or not the cache existed.
    script.SE3Net(True)
    # The order of the random draws is the script's: seed, build the net, draw
    # the training set.
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    net = script.SE3Net(True).to(args.device)
    volumes, labels = script.get_volumes(size=args.size, pad=args.pad, rotate=True)
    if args.dropout is not None:
        net.sequence[5].p = args.dropout

    record = {"train_x": volumes, "train_y": labels, "seed": args.seed}
    record["pieces"] = args.pieces
    # The same pieces unrotated (no random draw): the paper's text trains on them.
    record["canonical_x"] = script.get_volumes(size=args.size, pad=args.pad)[0]
    record["dropout"] = np.float64(net.sequence[5].p)
    # Copies: .numpy() shares memory with the tensors that training updates.
    record.update({f"param/{k}": to_numpy(v) for k, v in net.named_parameters()})
    record.update(
        {f"buffer/{k}": to_numpy(v) for k, v in net.named_buffers() if v is not None}
    )
    points = np.random.default_rng(1234).normal(size=(64, 3))
    record["sh_points"] = points
    record.update(spherical_harmonics_samples(points))
    record.update(forward_and_gradients(script, net, volumes, labels, args.device))
    record["device"] = args.device
    print(
        f"reference: {volumes.shape[-1]}^3 grid on {args.device}, "
        f"loss {record['loss']:.6f}"
    )

    if args.steps:
        functional = RecordingFunctional()
        script.F = functional  # the script's own train(), losses recorded
        begin = time.perf_counter()
        script.train(net, (volumes, labels), N_epochs=args.steps)
        record["losses"] = np.array(functional.losses)
        record["train_seconds"] = np.float64(time.perf_counter() - begin)
        print(f"\ntrained {args.steps} steps in {record['train_seconds']:.0f} s")
        record.update({f"final/{k}": to_numpy(v) for k, v in net.named_parameters()})
    if args.tests:
        sets = [
            script.get_volumes(args.size, args.pad, rotate=True)
            for _ in range(args.tests)
        ]
        with torch.no_grad():
            accs = [script.test(net, test_set) for test_set in sets]
            # The predicted classes too (the script prints accuracies only).
            record["test_pred"] = np.concatenate(
                [
                    to_numpy(net(torch.tensor(v, device=args.device)).argmax(1))
                    for v, _ in sets
                ]
            )
        record["test_x"] = np.concatenate([v for v, _ in sets])
        record["test_y"] = np.concatenate([t for _, t in sets])
        record["accuracy"] = np.float64(np.mean(accs))
        print(f"\nseed {args.seed}: test accuracy {record['accuracy']:.4f}")
    np.savez(out_path, **record)
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
