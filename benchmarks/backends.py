"""Speed of keras_se3 on each Keras backend: TensorFlow, JAX and PyTorch.

For each backend, in its own process (``KERAS_BACKEND``), side by side:

- ``SE3Conv3D`` against that backend's ``keras.layers.Conv3D`` with the same
  channel counts: a forward pass (``predict_on_batch``) and a training step
  (``train_on_batch``: forward, gradients of every trainable weight, an SGD
  update), medians of interleaved repetitions;
- a Tetris training step: ``tetris_net`` (the paper's steerable net) against
  ``tetris_cnn`` (a plain CNN with the same channels), batch 8.  Not the same
  work: the steerable net convolves at stride 1 and then low-passes and
  subsamples (the paper's anti-aliasing), where the CNN convolves with stride 2,
  so its two middle convolutions cost 8x the CNN's.

Everything runs as Keras compiles it by default, which is what users get: a
``tf.function`` graph without XLA on TensorFlow (Keras leaves XLA off on CPUs),
``jax.jit`` (XLA) on JAX, eager on PyTorch.  Ratios are within one backend's
process; the last table compares the backends' absolute times, measured one after
the other on the same machine.

    python benchmarks/backends.py                  # all three, markdown tables
    python benchmarks/backends.py --reps 5 --backends tensorflow jax
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

BACKENDS = ("tensorflow", "jax", "torch")
LAYER = ("8x0 + 4x1 + 2x2", 4, 32, 5)  # field type in and out, batch, grid, kernel
TETRIS = (8, 17)  # batch, grid (the tetris dataset's "small" config)


def _median_ms(times):
    return statistics.median(times) * 1000


def _interleaved(functions, reps):
    """Median seconds of each function, called in turn ``reps`` times."""
    for fn in functions.values():  # compile and warm up
        fn(), fn()
    times = {name: [] for name in functions}
    for _ in range(reps):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()  # returns numpy: the work is done when it returns
            times[name].append(time.perf_counter() - start)
    return {name: _median_ms(t) for name, t in times.items()}


def _compiled(model):
    import keras

    # Learning rate 0: the weights, hence every repetition's work, stay the same.
    model.compile(keras.optimizers.SGD(0.0), "mse")
    return model


def measure(reps):
    """This process's backend: the timings, as a dict (milliseconds)."""
    import keras
    import numpy as np

    from keras_se3 import FieldType, SE3Conv3D
    from keras_se3.models import tetris_cnn, tetris_net

    rng = np.random.default_rng(0)
    fields, batch, grid, kernel = LAYER
    ftype = FieldType(fields)
    x = rng.normal(size=(batch, grid, grid, grid, ftype.dim)).astype("float32")
    y = np.zeros_like(x)
    layers = {
        "SE3Conv3D": SE3Conv3D(ftype, kernel, in_fields=ftype),
        "Conv3D": keras.layers.Conv3D(ftype.dim, kernel, padding="same"),
    }
    models = {}
    for name, layer in layers.items():
        inputs = keras.Input(x.shape[1:])
        models[name] = _compiled(keras.Model(inputs, layer(inputs)))
    result = {"layer": {}}
    fwd = _interleaved(
        {name: lambda m=m: m.predict_on_batch(x) for name, m in models.items()}, reps
    )
    step = _interleaved(
        {name: lambda m=m: m.train_on_batch(x, y) for name, m in models.items()}, reps
    )
    for name in models:
        result["layer"][name] = {"fwd": fwd[name], "step": step[name]}

    batch, grid = TETRIS
    pieces = rng.normal(size=(batch, grid, grid, grid, 1)).astype("float32")
    labels = np.arange(batch) % 8
    nets = {}
    for name, build in (("tetris_net", tetris_net), ("tetris_cnn", tetris_cnn)):
        net = build(input_shape=(grid, grid, grid, 1))
        net.compile(
            keras.optimizers.SGD(0.0),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        nets[name] = net
    result["tetris"] = _interleaved(
        {
            name: lambda n=n: n.train_on_batch(pieces, labels)
            for name, n in nets.items()
        },
        reps,
    )
    result["versions"] = _versions()
    return result


def _versions():
    import keras

    backend = keras.backend.backend()
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
    return f"{backend} {__import__(module).__version__}, Keras {keras.__version__}"


def run_backend(backend, reps):
    """Run :func:`measure` under ``backend`` in a fresh process."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, __file__, "--worker", "--reps", str(reps)],
        env=env,
        capture_output=True,
        text=True,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{backend} failed:\n{out.stderr[-4000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def report(results):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
    from machine import cpu_name, usable_cores  # examples/machine.py

    fields, batch, grid, kernel = LAYER
    print(
        f"{usable_cores()} cores of {cpu_name()}, float32; Keras's default "
        "compilation on each backend (TF graph without XLA, jax.jit, torch eager)\n"
    )
    for backend, r in results.items():
        print(f"- {backend}: {r['versions']}")
    print(
        f"\n### SE3Conv3D vs the same backend's Conv3D: `{fields}` -> same, "
        f"batch {batch}, {grid}^3, kernel {kernel} (median ms)\n"
    )
    print("| backend | Conv3D fwd | SE3Conv3D fwd | ratio | Conv3D step "
          "| SE3Conv3D step | ratio |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for backend, r in results.items():
        c, s = r["layer"]["Conv3D"], r["layer"]["SE3Conv3D"]
        print(
            f"| {backend} | {c['fwd']:.0f} | {s['fwd']:.0f} | "
            f"{s['fwd'] / c['fwd']:.3f}x | {c['step']:.0f} | {s['step']:.0f} | "
            f"{s['step'] / c['step']:.3f}x |"
        )
    batch, grid = TETRIS
    print(f"\n### Tetris training step, batch {batch}, {grid}^3 (median ms)\n")
    print("| backend | tetris_cnn | tetris_net | ratio |")
    print("|---|---|---|---|")
    for backend, r in results.items():
        t = r["tetris"]
        print(
            f"| {backend} | {t['tetris_cnn']:.0f} | {t['tetris_net']:.0f} | "
            f"{t['tetris_net'] / t['tetris_cnn']:.2f}x |"
        )
    first = next(iter(results))
    print(
        f"\n### Across backends (time / {first}'s, same machine, one after another)\n"
    )
    print("| backend | SE3Conv3D step | tetris_net step |")
    print("|---|---|---|")
    base = results[first]
    for backend, r in results.items():
        layer = r["layer"]["SE3Conv3D"]["step"] / base["layer"]["SE3Conv3D"]["step"]
        net = r["tetris"]["tetris_net"] / base["tetris"]["tetris_net"]
        print(f"| {backend} | {layer:.2f}x | {net:.2f}x |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=BACKENDS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(measure(args.reps)))
        return
    results = {}
    for backend in args.backends:
        start = time.perf_counter()
        results[backend] = run_backend(backend, args.reps)
        print(f"{backend}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    report(results)


if __name__ == "__main__":
    main()
