import os

import keras
import numpy as np

# Installed by the test extra: missing exporters must fail the suite, not skip it.
import onnx
import onnxruntime
import pytest
import tf2onnx

from keras_se3.export import ExportCheckError, to_onnx, to_saved_model
from keras_se3.export.cli import main
from keras_se3.export.exporters import onnx_op_types, relative_error
from keras_se3.layers import FieldBatchNormalization, NormActivation, SE3Conv3D
from keras_se3.models import cath_resnet, se3_unet, shrec17_net, tetris_net
from tests.layer_checks import randomize_weights, update_bn_statistics


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    net = tetris_net(num_classes=5)
    for w in net.weights:
        if w.path.endswith(("bias", "gate_bias")):
            w.assign(rng.normal(scale=0.3, size=w.shape).astype("float32"))
    return net


def _small_model():
    fields = "2x0 + 1x1"
    inputs = keras.Input((None, None, None, 1), name="grid")
    x = SE3Conv3D(fields, 3, in_fields="1x0")(inputs)
    x = FieldBatchNormalization(fields)(x)
    outputs = NormActivation(fields, name="features")(x)
    return keras.Model(inputs, outputs)


def test_onnx_parity_names_dynamic_batch_and_standard_ops(model, tmp_path):
    path = tmp_path / "tetris.onnx"
    error = to_onnx(model, path, check=True)
    assert error <= 1e-5
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["voxels"]
    assert [o.name for o in proto.graph.output] == ["logits"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    ops = onnx_op_types(path)
    assert "Einsum" not in ops
    # Only standard ONNX ops (default domain, known to the ONNX schema).
    assert all(node.domain in ("", "ai.onnx") for node in proto.graph.node)
    assert all(onnx.defs.has(op) for op in ops), ops
    # The largest constant is an assembled conv kernel; no basis tensor survives.
    kernels = [
        int(np.prod(layer.conv.assembled_kernel().shape))
        for layer in model.layers
        if hasattr(layer, "conv")
    ]
    biggest = max(int(np.prod(t.dims)) for t in proto.graph.initializer)
    assert biggest == max(kernels)
    basis = max(
        int(np.prod(w.shape)) for w in model.weights if "basis_kernels" in w.path
    )
    assert all(int(np.prod(t.dims)) != basis for t in proto.graph.initializer)
    session = onnxruntime.InferenceSession(str(path))
    rng = np.random.default_rng(1)
    for batch in (1, 5):
        x = rng.normal(size=(batch, 9, 9, 9, 1)).astype("float32")
        (y,) = session.run(["logits"], {"voxels": x})
        reference = np.asarray(model(x, training=False))
        assert relative_error([reference], [y]) <= 1e-5


@pytest.mark.parametrize(
    "build, size",
    [(cath_resnet, 16), (lambda: shrec17_net(num_classes=7), 17)],
    ids=["cath", "shrec17"],
)
def test_deep_paper_nets_export_to_onnx(build, size, tmp_path):
    # The deep paper nets (residual blocks and shortcuts; the SHREC17 stack) with
    # trained-looking weights and batch-norm statistics, through collapse and
    # tf2onnx, run by onnxruntime.  (Their scripts' end-to-end tests train
    # without exporting; the scripts' export code is tested by the two-worker run.)
    keras.utils.set_random_seed(2)
    rng = np.random.default_rng(2)
    net = build()
    randomize_weights(net, rng)
    update_bn_statistics(net, (2, size, size, size, 1), rng)
    x = rng.normal(size=(2, size, size, size, 1)).astype("float32")
    error = to_onnx(net, tmp_path / "net.onnx", check=True, check_inputs=[x])
    assert error <= 1e-5
    assert "Einsum" not in onnx_op_types(tmp_path / "net.onnx")


def test_se3_unet_exports_to_onnx(tmp_path):
    # Per-voxel scalars and a vector, skip connections (Concatenate), transposed
    # convolutions: onnxruntime on a 9^3 grid against the Keras model.
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    net = se3_unet("1x0", "3x0 + 1x1", levels=1, hidden_fields=["2x0 + 1x1"] * 2)
    randomize_weights(net, rng)
    update_bn_statistics(net, (2, 9, 9, 9, 1), rng)
    x = rng.normal(size=(2, 9, 9, 9, 1)).astype("float32")
    error = to_onnx(net, tmp_path / "unet.onnx", check=True, check_inputs=[x])
    assert error <= 1e-5
    ops = onnx_op_types(tmp_path / "unet.onnx")
    assert "Einsum" not in ops and "Concat" in ops


def test_onnx_conversion_without_safety_copies_falls_back_when_a_pass_fails(
    tmp_path, monkeypatch
):
    # to_onnx first converts with TF2ONNX_CATCH_ERRORS=FALSE (no deep copy of the
    # graph before each optimizer pass); where a pass then raises, it converts
    # again with tf2onnx's defaults, and leaves the environment as it was.
    original = tf2onnx.convert.from_function
    seen = []

    def failing_without_copies(*args, **kwargs):
        seen.append(os.environ.get("TF2ONNX_CATCH_ERRORS"))
        if seen[-1] == "FALSE":
            raise RuntimeError("an optimizer pass failed")
        return original(*args, **kwargs)

    monkeypatch.setattr(tf2onnx.convert, "from_function", failing_without_copies)
    monkeypatch.delenv("TF2ONNX_CATCH_ERRORS", raising=False)
    error = to_onnx(_small_model(), tmp_path / "small.onnx", check=True)
    assert error <= 1e-5
    assert seen == ["FALSE", None]
    assert "TF2ONNX_CATCH_ERRORS" not in os.environ


def test_saved_model_parity_and_signature(tmp_path):
    import tensorflow as tf

    keras.utils.set_random_seed(1)
    net = _small_model()
    error = to_saved_model(net, tmp_path / "sm", check=True)
    assert error <= 1e-5
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    serve = loaded.signatures["serving_default"]
    x = np.random.default_rng(2).normal(size=(5, 7, 7, 7, 1)).astype("float32")
    y = serve(grid=tf.constant(x))["features"].numpy()
    assert relative_error([net(x, training=False)], [y]) <= 1e-5


def test_check_raises_on_mismatch(tmp_path, monkeypatch):
    from keras_se3.export import exporters

    keras.utils.set_random_seed(2)
    net, other = _small_model(), _small_model()  # different weights
    monkeypatch.setattr(exporters, "collapse_model", lambda model: other)
    with pytest.raises(ExportCheckError, match="relative error"):
        to_saved_model(net, tmp_path / "sm", check=True)


def test_cli_export(tmp_path, capsys):
    keras.utils.set_random_seed(3)
    net = _small_model()
    model_path = tmp_path / "small.keras"
    net.save(model_path)
    onnx_path, sm_path = tmp_path / "out.onnx", tmp_path / "sm"
    code = main(
        [
            "export",
            str(model_path),
            "--onnx",
            str(onnx_path),
            "--saved-model",
            str(sm_path),
            "--check",
            "--check-size",
            "7",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert onnx_path.is_file() and (sm_path / "saved_model.pb").is_file()
    assert "check ONNX: relative error" in out.out
    # Failures: missing file, a model without keras_se3 layers.
    assert main(["export", str(tmp_path / "missing.keras"), "--onnx", "x"]) == 1
    assert "not found" in capsys.readouterr().err
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(tmp_path / "plain.keras")
    assert main(["export", str(tmp_path / "plain.keras"), "--onnx", "y.onnx"]) == 1
    assert "not a keras_se3 model" in capsys.readouterr().err
