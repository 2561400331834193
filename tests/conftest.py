# The environment (one OpenBLAS thread, TensorFlow's log level) is set by the
# root conftest.py, which pytest loads first: it must be set before numpy loads.
import pathlib

import keras
import numpy as np
import pytest

#: The Keras backend of this run (``KERAS_BACKEND``; TensorFlow unless set).  It is
#: in every test's id (``test_name[...-jax]``).
BACKEND = keras.backend.backend()

#: What runs on every backend: the layers, models, kernel bases as weights,
#: ``.keras`` files and the collapse to stock Keras layers.  On JAX and PyTorch only
#: these are collected, less tests marked ``tensorflow_only``; the rest is
#: TensorFlow by nature (TFDS pipelines, ``tf.distribute``, SavedModel, tf2onnx)
#: and the TensorFlow run covers it.
PORTABLE = (
    "tests/layers/",
    "tests/models/",
    "tests/basis/",
    "tests/test_saved_models.py",
    "tests/export/test_collapse.py",
    "tests/export/test_export_backends.py",
    "tests/training/test_strategy_backends.py",
)

#: Tests marked ``slow`` from here (``make test-fast`` runs ``-m "not slow"``), by
#: file: all of the file's tests ("*"), or test names, with or without their
#: parameter ids (``Class::name`` for a test in a class).  Tests can also carry
#: ``@pytest.mark.slow`` themselves.  Slow: over ~6 s with ``--durations`` in
#: ``pytest -n 2`` on 2 busy cores (the end-to-end script runs, fresh processes,
#: the CATH ResNet, dataset generation, training steps, tf2onnx conversions).
SLOW = {
    "tests/examples/test_chirality.py": "*",  # trains two nets, ~30 s
    "tests/test_distributed.py": "*",  # one subprocess training on 2 replicas, 78 s
    "tests/test_jax_data_parallel.py": "*",  # a JAX subprocess, 2 training steps
    "tests/test_backends.py": "*",  # 4 subprocesses of other backends per net
    "tests/models/test_reference_training.py": "*",  # 16^3 paper-code steps, ~15 s each
    "tests/models/test_mixed_precision.py": [
        "test_tetris_net_trains_under_mixed_bfloat16_and_stays_invariant"
    ],
    "tests/layers/test_field_batch_norm.py": [
        "test_synchronized_statistics_under_mirrored_strategy"
    ],
    "tests/so3/test_clebsch_gordan.py": ["test_identical_in_a_fresh_process"],
    "tests/basis/test_kernel_basis.py": [
        "test_deterministic_within_and_across_processes"  # 2 fresh processes
    ],
    "tests/export/test_collapse.py": [
        "test_saved_collapsed_model_loads_without_keras_se3",
        "test_paper_nets_with_batch_norm_statistics[cath]",
        "test_paper_nets_with_batch_norm_statistics[shrec17]",
        "test_tetris_net_after_training_steps",
    ],
    "tests/export/test_export.py": [
        "test_onnx_parity_names_dynamic_batch_and_standard_ops",
        "test_deep_paper_nets_export_to_onnx",  # tf2onnx on the CATH ResNet, 21 s
    ],
    "tests/test_optimizers.py": ["test_tetris_net_coefficients_take_full_steps"],
    # Generates every split of the small Tetris config.
    "tests/datasets/test_builders.py": [
        "TetrisTest::test_download_and_prepare_as_dataset",
        "CathTest::test_download_and_prepare_as_dataset",
        "Shrec17Test::test_download_and_prepare_as_dataset",
    ],
}

#: Slow only off TensorFlow: the deep nets' tests, which take JAX 50-220 s each
#: (it compiles every new shape it runs eagerly; TensorFlow: a few seconds). They
#: stay in the TensorFlow run of ``make test-fast``; on every backend,
#: tests/test_backends.py runs the three paper nets, tests/test_jax_data_parallel.py
#: trains tetris_net on JAX, and the layer and collapse tests cover each layer.
SLOW_OFF_TENSORFLOW = {
    "tests/models/test_o3_net.py": [
        "test_o3_net_is_invariant_under_the_48_cube_symmetries",
        "test_o3_net_gives_a_mirror_image_the_same_logits",
    ],
    "tests/export/test_collapse.py": [
        "test_paper_nets_with_batch_norm_statistics[tetris-recipe]",
        # JAX 80 s: every layer in one stack; each layer's own collapse test
        # (tests/layers/test_registered_layers.py) runs on every backend.
        "test_stack_of_every_layer_and_equivariance",
    ],
    # JAX 52 s: training a loaded old model; loading it and computing the same
    # outputs (test_an_older_saved_model_loads_and_computes_the_same) runs here.
    "tests/test_saved_models.py": [
        "test_an_older_saved_model_collapses_and_trains_on",
    ],
    "tests/models/test_paper_models.py": [
        # JAX 63, 59 and 37 s: options, mixed precision and the paper basis of the
        # same net; the default-basis invariance test runs on every backend.
        "test_tetris_net_options_wire_through_and_add_no_parameters",
        "test_paper_nets_under_mixed_bfloat16_compute_the_float32_logits[tetris_net-8]",
        "test_tetris_net_is_invariant_under_cube_rotations[paper]",
        "test_tetris_net_with_reflections_is_o3_and_mirror_blind",
        "test_tetris_net_trains_and_gradients_reach_every_weight",
        "test_models_use_the_layers_default_basis",
        "test_shrec17_net_is_invariant_under_cube_rotations",
        "test_paper_nets_under_mixed_bfloat16_compute_the_float32_logits"
        "[cath_resnet-10]",
        "test_paper_nets_under_mixed_bfloat16_compute_the_float32_logits"
        "[shrec17_net-55]",
        "test_gradients_reach_every_weight_of_the_deep_nets[shrec17_net-33]",
        "test_cath_parameter_counts_are_the_papers",
        "test_tetris_and_shrec17_parameter_counts",
    ],
    # JAX 35 + 18 s (a batch of 24 rotated grids through the U-Net), 16 s and 9 s;
    # the O(3) test of a smaller U-Net runs on every backend, and the layers'
    # collapse and .keras files are tested on each (test_registered_layers.py).
    "tests/models/test_unet.py": [
        "test_scalars_move_and_vectors_turn_with_the_cube_rotations",
        "test_saves_loads_and_collapses_to_stock_layers",
        "test_the_cnn_counterpart_has_the_same_grids_and_comparable_width",
    ],
}
if BACKEND != "tensorflow":
    for _path, _names in SLOW_OFF_TENSORFLOW.items():
        if SLOW.get(_path) != "*":
            SLOW[_path] = [*SLOW.get(_path, []), *_names]


def _whole_files(config):
    """Test files collected in full: named on the command line (or their folders)
    without a ``::`` test selection."""
    return [pathlib.Path(a).resolve() for a in config.args if "::" not in a]


@pytest.fixture(autouse=True)
def keras_backend(request):
    """The backend's name, a parameter of every test (so it is in the test's id);
    unittest-style tests (the TFDS builder tests) take no parameters."""
    return getattr(request, "param", BACKEND)


@pytest.hookimpl(trylast=True)  # after @parametrize: the backend is the last id
def pytest_generate_tests(metafunc):
    if "keras_backend" in metafunc.fixturenames:
        metafunc.parametrize("keras_backend", [BACKEND], indirect=True)


def _without_backend(name):
    return name.replace(f"-{BACKEND}]", "]").replace(f"[{BACKEND}]", "")


def _portable(item, root):
    path = item.path.relative_to(root).as_posix()
    return path.startswith(PORTABLE) and not item.get_closest_marker("tensorflow_only")


@pytest.hookimpl(tryfirst=True)  # before -m and -k deselect
def pytest_collection_modifyitems(config, items):
    """Mark the tests of :data:`SLOW`; a name there that matches no test is an error.
    Off TensorFlow, keep only the :data:`PORTABLE` tests."""
    root = config.rootpath
    unused = {}
    for item in items:
        path = item.path.relative_to(root).as_posix()
        names = SLOW.get(path)
        if names is None:
            continue
        if path not in unused:
            whole = any(item.path.is_relative_to(arg) for arg in _whole_files(config))
            unused[path] = set(names) if whole and names != "*" else set()
        local = _without_backend(item.nodeid.split("::", 1)[-1])  # "Class::test[id]"
        name = _without_backend(item.name)
        matched = {local, name, getattr(item, "originalname", name)}
        if names == "*" or matched & set(names):
            item.add_marker(pytest.mark.slow)
            unused[path] -= matched
    stale = {path: sorted(names) for path, names in unused.items() if names}
    if stale:
        raise pytest.UsageError(
            f"tests/conftest.py's SLOW names tests that do not exist: {stale}. "
            "Update the list to the tests' current names."
        )
    if BACKEND != "tensorflow":
        deselected = [item for item in items if not _portable(item, root)]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if _portable(item, root)]


@pytest.fixture
def float64():
    """A test that computes in float64: on JAX, 64-bit types are turned on for it
    (JAX truncates float64 to float32 unless told otherwise)."""
    if BACKEND == "jax":
        import jax

        with jax.enable_x64(True):
            yield
    else:
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
