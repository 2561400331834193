"""Run or import the example scripts of examples/ (not a package).

The scripts are what a user runs, so their end-to-end tests run them as
subprocesses (:func:`run_script`).  The option parsing and small helpers of
``examples/tetris.py`` and the scripts' harness ``examples/experiment.py`` are also
tested directly: :func:`load_example` imports a script as a module under its own
name.  The scripts import their shared modules (``experiment``, ``machine``) from
their folder, as they do when run, so ``examples/`` goes on ``sys.path``
(``examples/startup.py`` is loaded only when a script runs as ``__main__``).
"""

import importlib.util
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

#: Seconds before a script run in a subprocess counts as hung. A guard, not a speed
#: check: on one machine the suite ran 6x slower than usual (34 min), and
#: the Tetris script test, sharing the 2 cores with the rest, ran past 900 s.
SCRIPT_TIMEOUT = 2700


def load_example(name):
    """``examples/<name>.py`` as a module (its ``main`` is not run)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(
        f"examples_{name}", EXAMPLES / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(script, *args, env=None):
    """Run ``python examples/<script> args...`` as a user would, from the checkout.

    The environment is this one without ``TF_CONFIG``, with ``PYTHONPATH`` set to
    the checkout (so that its ``keras_se3`` is imported) and ``env`` added.

    Returns:
        ``(completed process, log)``: the log holds stdout and the end of stderr,
        for assertion messages.
    """
    environment = {
        k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "PYTHONPATH")
    }
    environment.update(PYTHONPATH=str(ROOT), **(env or {}))
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *map(str, args)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=SCRIPT_TIMEOUT,
    )
    log = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-5000:]}"
    return result, log
