"""Train, collapse, export, serve: a keras_se3 model in onnxruntime.

Trains the paper's Tetris network for a few steps on the 8 pieces (or loads a
trained `.keras` file), collapses it to stock Keras layers
(`keras_se3.collapse`), exports it as a TensorFlow SavedModel and as ONNX (both
checked against the Keras model), then serves the ONNX file with onnxruntime on a
batch of randomly rotated pieces and prints the agreement and the inference time
of the original Keras model, the collapsed Keras model and onnxruntime.

    python examples/export_onnx.py                      # train 20 steps, 21^3 grid
    python examples/export_onnx.py --model tetris.keras --out /tmp/tetris_export

Needs the "export" extra: `pip install -e ".[export]"`.
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_se3  # noqa: E402
from keras_se3 import so3  # noqa: E402
from keras_se3.datasets.tetris_pieces import TETRIS_NAMES, tetris_voxels  # noqa: E402
from keras_se3.export import to_onnx, to_saved_model  # noqa: E402
from keras_se3.models import tetris_net  # noqa: E402

SIZE = 21  # (SIZE - 1) divisible by the total stride 4: centred grids


def pieces(rotations=None):
    rotations = rotations or [None] * len(TETRIS_NAMES)
    x = np.stack(
        [
            tetris_voxels(name, r, grid_size=SIZE, block_size=3, supersampling=1)
            for name, r in zip(TETRIS_NAMES, rotations)
        ]
    )
    return x[..., None].astype("float32"), np.arange(len(TETRIS_NAMES))


def train(steps):
    keras.utils.set_random_seed(0)
    model = tetris_net(input_shape=(SIZE, SIZE, SIZE, 1))
    model.compile(
        keras_se3.optimizers.Adam(1e-2),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    x, y = pieces()
    start = time.perf_counter()
    history = model.fit(x, y, batch_size=8, epochs=steps, verbose=0)
    print(
        f"trained {steps} steps in {time.perf_counter() - start:.1f} s, "
        f"final loss {history.history['loss'][-1]:.3f}"
    )
    return model


def median_ms(function, repeats=7):
    function()  # warm-up (tracing)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a trained .keras model (default: train)")
    parser.add_argument("--steps", type=int, default=20, help="training steps")
    parser.add_argument("--out", help="output directory (default: a temp dir)")
    args = parser.parse_args()
    model = keras.saving.load_model(args.model) if args.model else train(args.steps)
    out = args.out or tempfile.mkdtemp(prefix="keras_se3_export_")
    os.makedirs(out, exist_ok=True)

    start = time.perf_counter()
    collapsed = keras_se3.collapse(model)
    print(
        f"collapsed {len(model.layers)} layers into {len(collapsed.layers)} stock "
        f"Keras layers in {time.perf_counter() - start:.2f} s"
    )
    collapsed.save(os.path.join(out, "collapsed.keras"))
    onnx_path = os.path.join(out, "model.onnx")
    error_sm = to_saved_model(model, os.path.join(out, "saved_model"), check=True)
    error_onnx = to_onnx(model, onnx_path, check=True)
    print(f"wrote {out}/{{collapsed.keras, saved_model/, model.onnx}}")
    print(f"export checks: SavedModel {error_sm:.1e}, ONNX {error_onnx:.1e}")

    # Serve: a batch of the 8 pieces under random cube rotations.
    import onnxruntime

    rng = np.random.default_rng(1)
    cube = so3.cube_rotations()
    x, y = pieces([cube[i] for i in rng.integers(0, len(cube), len(TETRIS_NAMES))])
    session = onnxruntime.InferenceSession(
        onnx_path, providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name
    logits_onnx = session.run(None, {name: x})[0]
    logits_keras = np.asarray(model(x, training=False))
    logits_collapsed = np.asarray(collapsed(x))
    scale = np.abs(logits_keras).max()
    print(
        "agreement with the original model (max relative error): collapsed "
        f"{np.abs(logits_collapsed - logits_keras).max() / scale:.1e}, onnxruntime "
        f"{np.abs(logits_onnx - logits_keras).max() / scale:.1e}; same predicted "
        f"class: {np.array_equal(logits_onnx.argmax(1), logits_keras.argmax(1))}; "
        f"accuracy on rotated pieces {np.mean(logits_onnx.argmax(1) == y):.2f}"
    )

    predict = {
        "Keras original": lambda: model.predict_on_batch(x),
        "Keras collapsed": lambda: collapsed.predict_on_batch(x),
        "onnxruntime": lambda: session.run(None, {name: x}),
    }
    for label, function in predict.items():
        ms = median_ms(function)
        print(f"inference, batch {len(x)} at {SIZE}^3: {label:16s} {ms:7.1f} ms")


if __name__ == "__main__":
    main()
