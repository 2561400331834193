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


def outputs(model, x):
    """``model(x, training=False)`` as numpy.  Compiled on JAX, which compiles an
    eager call op by op (the CATH ResNet's first call: 43 s eager, 11 s jitted);
    eager elsewhere (TensorFlow traces the CATH ResNet for 20 s, calls it in 2)."""
    if keras.backend.backend() == "jax":
        return model.predict(x, batch_size=len(x), verbose=0)
    return keras.ops.convert_to_numpy(model(x, training=False))


def randomize_batch_norm(model, rng):
    """Batch-norm statistics and affine maps away from 0 and 1, so that the files
    carry values a wrong load would not reproduce."""
    for variable in model.variables:
        name = variable.path.rsplit("/", 1)[-1]
        if name in ("moving_mean", "beta"):
            values = rng.normal(size=variable.shape)
        elif name in ("moving_variance", "gamma"):
            values = rng.uniform(0.5, 2.0, size=variable.shape)
        else:
            continue
        variable.assign(values.astype("float32"))


def step(save, nets, loads):
    from keras_se3 import models

    backend = keras.backend.backend()
    errors = {}
    for source in map(pathlib.Path, loads):
        for name in nets:
            saved = np.load(source / f"{name}.npz")
            model = keras.saving.load_model(source / f"{name}.keras", safe_mode=True)
            y = outputs(model, saved["x"])
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
            randomize_batch_norm(model, rng)
            y = outputs(model, x)
            model.save(out / f"{name}.keras")
            np.savez(out / f"{name}.npz", x=x, y=y)
    return errors


if __name__ == "__main__":
    save, nets, *loads = sys.argv[1:]
    print(json.dumps(step(None if save == "-" else save, json.loads(nets), loads)))
