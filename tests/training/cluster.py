"""Start the worker processes of a local ``MultiWorkerMirroredStrategy`` cluster.

Each worker is a subprocess on 127.0.0.1 with its own ``TF_CONFIG``, in its own
process group: :func:`local_cluster` kills every worker still running when its
block ends (a test failure, a timeout), so no worker outlives a test.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

from ..examples.scripts import ROOT

#: Seconds a cluster may run before its workers count as hung and are killed.
CLUSTER_TIMEOUT = 900


def free_ports(count):
    """``count`` TCP ports on 127.0.0.1 that are free now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Cluster:
    """The running workers of :func:`local_cluster`."""

    def __init__(self, argv, workers, log_dir):
        addresses = [f"127.0.0.1:{port}" for port in free_ports(workers)]
        os.makedirs(log_dir, exist_ok=True)
        # One command for all workers, or a list of one per worker.
        per_worker = all(isinstance(a, (list, tuple)) for a in argv)
        self.argvs = list(argv) if per_worker else [argv] * workers
        self.log_dir = log_dir
        self.cluster = {"worker": addresses}
        self.processes = [self.start(index) for index in range(workers)]

    def start(self, index):
        """(Re)start worker ``index``; its output goes to ``worker_<index>.log``."""
        config = {"cluster": self.cluster, "task": {"type": "worker", "index": index}}
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update(PYTHONPATH=str(ROOT), TF_CONFIG=json.dumps(config))
        log = open(os.path.join(self.log_dir, f"worker_{index}.log"), "a")
        with log:
            return subprocess.Popen(
                [sys.executable, *map(str, self.argvs[index])],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,
                start_new_session=True,  # its own process group, killed as one
            )

    def log(self, index):
        with open(os.path.join(self.log_dir, f"worker_{index}.log")) as f:
            return f.read()

    def logs(self):
        """Every worker's output, for assertion messages."""
        workers = range(len(self.processes))
        return "\n".join(f"--- worker {i}:\n{self.log(i)[-6000:]}" for i in workers)

    def wait(self, timeout=CLUSTER_TIMEOUT):
        """Wait for every worker to exit; their exit codes.  Kills them on timeout."""
        deadline = time.monotonic() + timeout
        codes = []
        for process in self.processes:
            try:
                codes.append(process.wait(max(1.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                self.kill()
                message = f"the cluster ran past {timeout} s\n{self.logs()}"
                raise AssertionError(message) from None
        return codes

    def kill(self, index=None):
        """Kill worker ``index`` (all if None) and its children, and reap them."""
        indices = range(len(self.processes)) if index is None else [index]
        for i in indices:
            process = self.processes[i]
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def local_cluster(argv, log_dir, workers=2):
    """Start ``workers`` processes running ``python argv...``, one per task.

    ``argv`` is one command for every worker, or a list of one per worker.

    Yields:
        The :class:`Cluster`; every worker still running at the end is killed.
    """
    cluster = Cluster(argv, workers, log_dir)
    try:
        yield cluster
    finally:
        cluster.kill()
