"""One backend's turn in tests/test_backends.py: load other backends' saved nets
and compare their outputs, then save this backend's.

    KERAS_BACKEND=jax python -m tests.backend_step OUT_DIR|- NETS_JSON [LOAD_DIR ...]

prints ``{"<source>-><backend>:<net>": [relative error, output scale]}`` as JSON.
"""

import json
import pathlib
import sys

import keras
import numpy as np


def step(save, nets, loads):
    from keras_se3 import models

    backend = keras.backend.backend()
    errors = {}
    for source in map(pathlib.Path, loads):
        for name in nets:
            saved = np.load(source / f"{name}.npz")
            model = keras.saving.load_model(source / f"{name}.keras", safe_mode=True)
            y = keras.ops.convert_to_numpy(model(saved["x"], training=False))
            scale = float(np.abs(saved["y"]).max())
            error = float(np.abs(y - saved["y"]).max()) / scale
            errors[f"{source.name}->{backend}:{name}"] = (error, scale)
    if save is not None:
        out = pathlib.Path(save)
        out.mkdir()
        for seed, (name, size) in enumerate(nets.items()):
            keras.utils.set_random_seed(seed)
            model = getattr(models, name)()
            rng = np.random.default_rng(seed)
            x = rng.normal(size=(2, size, size, size, 1)).astype("float32")
            model(3 * x + 1, training=True)  # batch-norm statistics off 0 and 1
            y = keras.ops.convert_to_numpy(model(x, training=False))
            model.save(out / f"{name}.keras")
            np.savez(out / f"{name}.npz", x=x, y=y)
    return errors


if __name__ == "__main__":
    save, nets, *loads = sys.argv[1:]
    print(json.dumps(step(None if save == "-" else save, json.loads(nets), loads)))
