"""Training under MultiWorkerMirroredStrategy with two real worker processes.

The workers run on 127.0.0.1, each with its own ``TF_CONFIG``
(tests/training/cluster.py starts them, bounds them in time and kills what is
left).  One step of the two workers must equal the single-process step; a
training script (examples/shrec17.py: its net traces ten times faster than the
CATH ResNet, and the scripts share their training code, keras_se3.training) must
train, evaluate and export with two workers, the chief alone writing, and a run
whose worker is killed must resume from the chief's backup.  Its dummy training
split (3 examples in batches of 2) also holds the partial batch that once gave
one worker an empty share of a step.
"""

import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from ..examples.scripts import EXAMPLES, ROOT
from ..examples.test_training_scripts import data_dir  # noqa: F401 (a fixture)
from .cluster import CLUSTER_TIMEOUT, local_cluster

STEP = "tests/training/multiworker_step.py"


def load_step(path):
    data = np.load(path)
    count = len([k for k in data.files if k.startswith("after_")])
    return (
        float(data["loss"]),
        int(data["replicas"]),
        [data[f"before_{i}"] for i in range(count)],
        [data[f"after_{i}"] for i in range(count)],
    )


@pytest.mark.slow
def test_two_workers_step_equals_the_single_process_step(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["PYTHONPATH"] = str(ROOT)
    single = subprocess.run(
        [sys.executable, STEP, str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLUSTER_TIMEOUT,
    )
    assert single.returncode == 0, single.stdout + single.stderr[-5000:]
    with local_cluster(["-u", STEP, tmp_path], tmp_path) as cluster:
        assert cluster.wait() == [0, 0], cluster.logs()
    loss, replicas, before, after = load_step(tmp_path / "single.npz")
    assert replicas == 1
    for worker in (0, 1):
        w_loss, w_replicas, w_before, w_after = load_step(
            tmp_path / f"worker_{worker}.npz"
        )
        assert w_replicas == 2, cluster.logs()
        assert w_loss == pytest.approx(loss, rel=1e-5)
        for b, wb in zip(before, w_before):
            np.testing.assert_array_equal(wb, b)  # the same start everywhere
        updates, errors = [], []
        for b, a, wa in zip(before, after, w_after):
            scale = max(1.0, float(np.abs(a).max()))
            updates.append(float(np.abs(a - b).max()) / scale)
            errors.append(float(np.abs(wa - a).max()) / scale)
        # The step moved the weights far more than the tolerance (a loss not
        # averaged over the global batch, or batch norm statistics of one
        # worker's half, would change them by O(update)); every weight, the
        # synchronized batch norm's moving statistics included, matches.
        # Measured: update 0.19, largest difference 1.1e-6.
        assert max(updates) > 1e-2
        assert max(errors) <= 1e-5, errors


def shrec17_command(data_dir, out, epochs, model="se3"):  # noqa: F811 (a fixture)
    return [
        "-u", EXAMPLES / "shrec17.py", "--data-dir", data_dir,
        "--dataset-config", "normal", "--output-dir", out,
        "--epochs", epochs, "--steps-per-epoch", 1, "--batch-size", 2,
        "--grid-size", 16, "--strategy", "multiworker", "--verbose", 2,
        "--model", model,
    ]  # fmt: skip


def completed(out):
    metadata = out / "backup" / "training_metadata.json"
    try:
        return json.loads(metadata.read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        return 0  # not written yet, or being written


@pytest.mark.slow
def test_script_two_workers_killed_and_resumed(data_dir, tmp_path):  # noqa: F811
    out = tmp_path / "shrec17"
    # The kill comes after epoch 1 (2 at the latest: the chief cannot finish an
    # epoch without its peer), so 3 epochs leave 1-2 for the resumed run.  Each
    # epoch past the first is a step, a validation pass and the chief's
    # checkpoints; the first adds the graph tracing of each run.
    epochs = 3
    # The plain CNN: killing and resuming is the harness's and the strategy's,
    # whatever the model, and the CNN traces in seconds (the steerable net
    # ~10 s per process and run; its two-worker step is checked above).
    command = shrec17_command(data_dir, out, epochs, model="cnn")
    with local_cluster(command, tmp_path) as cluster:
        # Kill worker 1 once the chief has backed up an epoch; the chief then
        # cannot finish (its all-reduces have no peer) and is killed too.
        deadline = time.monotonic() + 900
        while completed(out) < 1:
            assert time.monotonic() < deadline, cluster.logs()
            assert all(p.poll() is None for p in cluster.processes), cluster.logs()
            time.sleep(0.2)
        cluster.kill(1)
        time.sleep(2)
        cluster.kill(0)
        first_logs = cluster.logs()
    done = completed(out)
    assert 1 <= done < epochs, first_logs
    assert "(chief)" in cluster.log(0) and "this process is worker 1" in first_logs

    with local_cluster(command, tmp_path / "again") as cluster:
        assert cluster.wait() == [0, 0], cluster.logs()
    for worker in (0, 1):
        log = cluster.log(worker)
        assert f"resuming from the backup in {out / 'backup'}: {done} epoch" in log
        # Keras counts the epochs from the backup's: none is trained twice.
        assert f"Epoch {done + 1}/{epochs}" in log and f"Epoch {done}/" not in log
        assert re.search(r"^validation accuracy: +[01]\.\d{3} \(2 examples", log, re.M)
        assert "(CollectiveAllReduceStrategy), 2 replica(s)" in log
    # Only the chief wrote: one set of files in the shared output folder, no
    # worker folders (TensorBoard's logs/ only if it is installed).
    written = {p.name for p in out.iterdir()} - {"logs"}
    assert written == {
        "backup", "best.keras", "collapsed.keras", "history.csv", "model.keras",
        "model.onnx", "summary.json",
    }, written  # fmt: skip
    assert "export:" in cluster.log(0) and "export:" not in cluster.log(1)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["replicas"] == 2
    assert summary["resumed_after_epoch"] == done
    assert summary["epochs_this_run"] == epochs - done
    assert summary["export_errors"]["onnx"] < 1e-3
    # The chief's history: every epoch once, the killed run's and the resumed.
    rows = (out / "history.csv").read_text().strip().splitlines()[1:]
    epochs_logged = [int(row.split(",")[0]) for row in rows]
    assert epochs_logged == list(range(epochs)), rows


@pytest.mark.slow
def test_workers_with_different_backups_are_a_clear_error(data_dir, tmp_path):  # noqa: F811
    # Worker 0 finds a backup (of 1 epoch) in its --output-dir, worker 1 none in
    # its own: the folders are not shared.  Both must stop with the error.
    shared, other = tmp_path / "shared", tmp_path / "other"
    (shared / "backup").mkdir(parents=True)
    (shared / "backup" / "training_metadata.json").write_text('{"epoch": 1}')
    commands = [shrec17_command(data_dir, d, 2) for d in (shared, other)]
    with local_cluster(commands, tmp_path) as cluster:
        assert cluster.wait() == [1, 1], cluster.logs()
    for worker in (0, 1):
        log = cluster.log(worker)
        assert "error: the workers found different backups" in log, log
        assert "Traceback" not in log, log
