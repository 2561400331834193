"""The package as users get it: an sdist and a wheel, installed away from the checkout.

``python -m build`` makes both (no build isolation: the lock's setuptools, nothing
downloaded).  The wheel goes into a new virtual environment whose only other
packages are the test environment's dependencies (a ``.pth`` file points at them;
the checkout's editable install is not among them), and a process started
outside the checkout imports keras_se3, finds the four TFDS builders registered
with their metadata and dummy data, and runs the ``keras-se3`` command line.
"""

import os
import pathlib
import subprocess
import sys
import sysconfig
import tarfile
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

CHECK = """
import pathlib, sys
import keras_se3, keras_se3.datasets, tensorflow_datasets as tfds
where = pathlib.Path(keras_se3.__file__).resolve()
assert str(where).startswith(sys.prefix), f"keras_se3 imported from {where}"
builders = set(tfds.list_builders())
NAMES = ("tetris", "tetris_scenes", "cath", "shrec17", "protein_sse")
assert set(NAMES) <= builders, sorted(builders)[:20]
for name in NAMES:
    folder = pathlib.Path(keras_se3.datasets.__file__).parent / name
    assert (folder / "README.md").is_file() and (folder / "checksums.tsv").is_file()
assert any((folder / "dummy_data").iterdir())
print("ok", keras_se3.__version__)
"""


@pytest.mark.slow  # builds and installs the package: ~25 s
def test_sdist_and_wheel_install_and_work_away_from_the_checkout(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, ROOT],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = dist.glob("keras_se3-*.whl")
    (sdist,) = dist.glob("keras_se3-*.tar.gz")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "keras_se3/datasets/tetris/tetris_dataset_builder.py" in names
    assert "keras_se3/datasets/tetris_scenes/tetris_scenes_dataset_builder.py" in names
    assert "keras_se3/datasets/tetris_scenes/README.md" in names
    assert "keras_se3/datasets/protein_sse/protein_sse_dataset_builder.py" in names
    assert "keras_se3/datasets/cath/dummy_data/cath_10arch_ca.npz" in names
    assert not any(name.startswith(("tests/", "datasets/")) for name in names)
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names) or any(
        name.endswith(".dist-info/LICENSE") for name in names
    ), "the wheel carries no LICENSE"
    with tarfile.open(sdist) as archive:
        members = {m.split("/", 1)[-1] for m in archive.getnames()}
    assert {"LICENSE", "README.md", "setup.py", "CHANGELOG.md"} <= members
    assert "requirements/test.txt" in members

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The test environment's packages, without the checkout's editable install
    # (a path in a .pth file is added to sys.path; the .pth files inside it,
    # such as the editable install's finder, are not run).
    (pathlib.Path(site) / "test_env.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel],
        check=True,
        capture_output=True,
    )
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [python, "-c", CHECK], cwd=away, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    version = result.stdout.split()[-1]
    assert wheel.name.startswith(f"keras_se3-{version}-")
    assert f"## {version}" in (ROOT / "CHANGELOG.md").read_text()
    cli = subprocess.run(
        [venv / "bin" / "keras-se3", "--help"],
        cwd=away,
        env=env,
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert "export" in cli.stdout
