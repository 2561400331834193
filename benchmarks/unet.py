"""Training step and peak memory of ``se3_unet`` vs ``unet_cnn``; collapsed inference.

Each case runs in its own fresh process (so the peak memory is its own): build,
compile, two warm-up steps, then the median time of a ``train_on_batch`` step
(graph mode, float32, CPU) and the process's peak resident memory.  The U-Nets
take the grid sizes ``n`` with ``(n - 1)`` divisible by 4 (two levels), so the
"64^3" case is 65^3.  Then, in one process, inference of the trained-shape
``se3_unet`` (``predict_on_batch``, its kernels assembled from the basis at each
call) against its collapse to stock ``Conv3D`` layers (``keras_se3.collapse``).

    python benchmarks/unet.py                 # 2 x 65^3, median of 5
    python benchmarks/unet.py --size 33 --steps 3
"""

import argparse
import pathlib
import sys

from paper_nets import run_child  # benchmarks/paper_nets.py: a fresh process

_TRAIN = r"""
import json, os, resource, statistics, sys, time
import numpy as np, keras
from keras_se3.models import se3_unet, unet_cnn
name, size, batch, steps = sys.argv[1], *map(int, sys.argv[2:])
shape = (size, size, size, 1)
if name == "se3_unet":
    model = se3_unet("1x0", "9x0 + 1x1", input_shape=shape)
else:
    model = unet_cnn(1, 12, input_shape=shape)
model.compile(optimizer="adam", loss="mse")
rng = np.random.default_rng(0)
x = rng.normal(size=(batch, *shape)).astype("float32")
y = rng.normal(size=(batch, size, size, size, 12)).astype("float32")
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
                  "params": params}))
"""

_INFER = r"""
import json, statistics, sys, time
import numpy as np, keras, keras_se3
from keras_se3.models import se3_unet
size, batch, steps = map(int, sys.argv[1:])
shape = (size, size, size, 1)
model = se3_unet("1x0", "9x0 + 1x1", input_shape=shape)
collapsed = keras_se3.collapse(model)
x = np.random.default_rng(0).normal(size=(batch, *shape)).astype("float32")
result = {}
for name, net in (("se3_unet", model), ("collapsed", collapsed)):
    for _ in range(2):
        net.predict_on_batch(x)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        net.predict_on_batch(x)
        times.append(time.perf_counter() - t)
    result[name] = 1000 * statistics.median(times)
error = np.max(np.abs(model.predict_on_batch(x) - collapsed.predict_on_batch(x)))
result["max_abs_difference"] = float(error)
print(json.dumps(result))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=65, help="grid size (n-1)%%4==0")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    names = ("se3_unet", "unet_cnn")
    train = {n: run_child(_TRAIN, n, args.size, args.batch, args.steps) for n in names}
    infer = run_child(_INFER, args.size, args.batch, args.steps)
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))
    from machine import cpu_name, usable_cores  # examples/machine.py

    print(
        f"{usable_cores()} cores of {cpu_name()}, float32, graph mode, "
        f"median of {args.steps}, batch {args.batch} x {args.size}^3"
    )
    print("\n| model | trainable params | train step (ms) | peak RSS (MB) |")
    print("|---|---|---|---|")
    for name in names:
        r = train[name]
        print(f"| {name} | {r['params']:,} | {r['step_ms']:.0f} | {r['peak_mb']:.0f} |")
    ratio = train["se3_unet"]["step_ms"] / train["unet_cnn"]["step_ms"]
    print(f"\nse3_unet / unet_cnn train step: {ratio:.2f}x")
    print(
        f"inference: se3_unet {infer['se3_unet']:.0f} ms, collapsed "
        f"{infer['collapsed']:.0f} ms ({infer['se3_unet'] / infer['collapsed']:.2f}x), "
        f"max |difference| {infer['max_abs_difference']:.1e}"
    )


if __name__ == "__main__":
    main()
