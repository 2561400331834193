"""Import an example script as a module (examples/ is not a package)."""

import importlib.util
import pathlib
import sys

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"

#: Seconds before a script run in a subprocess counts as hung. A guard, not a speed
#: check: on one machine the suite ran 6x slower than usual (session 12, 34 min), and
#: the Tetris script test, sharing the 2 cores with the rest, ran past 900 s.
SCRIPT_TIMEOUT = 2700


def load_example(name):
    """``examples/<name>.py`` as a module; its sibling ``common`` stays importable."""
    spec = importlib.util.spec_from_file_location(
        f"examples_{name}", EXAMPLES / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(EXAMPLES))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXAMPLES))
    return module
