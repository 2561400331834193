"""The README's usage example runs as printed and does what its comments say."""

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _usage_code():
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Usage\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "README.md's Usage section has no ```python block"
    return blocks[0]


def test_readme_usage_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "readme_usage"}
    exec(compile(_usage_code(), "README.md (Usage)", "exec"), namespace)

    # The two printed numbers are float32 rounding, as its comments say (~1e-6; a
    # broken convention or a wrong collapse gives 1e-2 and more).
    printed = [float(v) for v in capsys.readouterr().out.split()]
    assert len(printed) == 2 and max(printed) < 1e-5, printed
    # The collapsed model was saved, and it is made of stock Keras layers.
    assert (tmp_path / "plain.keras").is_file()
    plain, x = namespace["plain"], namespace["x"]
    assert all(type(layer).__module__.startswith("keras.") for layer in plain.layers)
    assert plain.predict(x, verbose=0).shape == (2, 8)
    assert np.isfinite(plain.predict(x, verbose=0)).all()
