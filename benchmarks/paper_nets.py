"""Training-step time and peak memory of the paper's networks vs their CNN baselines.

Each model runs in its own fresh process (so peak memory is its own): build,
compile, a few warm-up steps, then the median time of a `train_on_batch` step
(graph mode, float32, CPU) and the process's peak resident memory.  Also the cold
construction time of the CATH net (a fresh process, no basis cache).

    python benchmarks/paper_nets.py             # Tetris 36^3 batch 8, CATH 50^3 batch 4
    python benchmarks/paper_nets.py --steps 3
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys

CASES = [
    # (builder, input size, batch, classes)
    ("tetris_net", 36, 8, 8),
    ("tetris_cnn", 36, 8, 8),
    ("cath_resnet", 50, 4, 10),
    ("cath_cnn", 50, 4, 10),
]

_CHILD = r"""
import json, os, resource, statistics, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np, keras
from keras_se3 import models
name, size, batch, classes, steps = sys.argv[1], *map(int, sys.argv[2:])
start = time.perf_counter()
model = getattr(models, name)(num_classes=classes, input_shape=(size, size, size, 1))
build = time.perf_counter() - start
model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(
    from_logits=True))
x = np.random.default_rng(0).normal(size=(batch, size, size, size, 1)).astype("float32")
y = np.arange(batch) % classes
for _ in range(2):
    model.train_on_batch(x, y)
times = []
for _ in range(steps):
    t = time.perf_counter()
    model.train_on_batch(x, y)
    times.append(time.perf_counter() - t)
params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"step_ms": 1000 * statistics.median(times), "peak_mb": peak_mb,
                  "build_s": build, "params": params}))
"""


def run_child(code, *args):
    """Run ``code`` in a fresh Python process with ``args``; its last line of
    standard output, parsed as JSON."""
    out = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(name, size, batch, classes, steps):
    return run_child(_CHILD, name, size, batch, classes, steps)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    results = {case[0]: run(*case, steps=args.steps) for case in CASES}
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keras_se3 imports Keras
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
    from machine import cpu_name, usable_cores  # examples/machine.py

    print(
        f"{usable_cores()} cores of {cpu_name()}, float32, graph mode, "
        f"median of {args.steps}"
    )
    print("\n| model | input | trainable params | train step (ms) | peak RSS (MB) |")
    print("|---|---|---|---|---|")
    for name, size, batch, _ in CASES:
        r = results[name]
        print(
            f"| {name} | {batch} x {size}^3 | {r['params']:,} | {r['step_ms']:.0f} "
            f"| {r['peak_mb']:.0f} |"
        )
    for net, cnn in (("tetris_net", "tetris_cnn"), ("cath_resnet", "cath_cnn")):
        ratio = results[net]["step_ms"] / results[cnn]["step_ms"]
        print(f"\n{net} / {cnn} step time: {ratio:.2f}x")
    print(f"\ncath_resnet cold construction: {results['cath_resnet']['build_s']:.2f} s")


if __name__ == "__main__":
    main()
