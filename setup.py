from setuptools import find_packages, setup

# The TFDS builders live in the top-level `datasets/<name>/` folders (the `tfds new`
# layout) and are installed as `keras_se3.datasets.<name>`: importing
# `keras_se3.datasets` registers them. No top-level `datasets` package is installed.
_DATASETS = ("tetris", "tetris_scenes", "cath", "shrec17", "protein_sse")
_DATA_FILES = [
    "README.md",
    "CITATIONS.bib",
    "TAGS.txt",
    "checksums.tsv",
    "dummy_data/*",
]

setup(
    name="keras-se3",
    version="0.1.0",
    description="SE(3)-equivariant 3D steerable CNNs (Weiler et al. 2018) for Keras 3",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    # Only the library: nothing here installs a top-level package called `datasets`.
    packages=find_packages(include=["keras_se3", "keras_se3.*"])
    + [f"keras_se3.datasets.{name}" for name in _DATASETS],
    package_dir={
        f"keras_se3.datasets.{name}": f"datasets/{name}" for name in _DATASETS
    },
    package_data={f"keras_se3.datasets.{name}": _DATA_FILES for name in _DATASETS},
    install_requires=[
        "tensorflow>=2.16,<2.22",
        "keras>=3.5,<3.16",
        "numpy>=1.26",
        "scipy>=1.15",  # scipy.special.sph_harm_y
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-xdist>=3.5",
            "ruff==0.17.6",  # pinned: `make test` lints, and rules change
            # keras_se3.datasets and its tests (tfds.testing needs dill and
            # importlib_resources, which tensorflow-datasets does not install).
            "tensorflow-datasets>=4.9,<4.10",
            "trimesh>=4",
            "dill",
            "importlib_resources",
            # keras_se3.export and its tests (the "export" extra).
            "tf2onnx>=1.16,<1.18",
            "onnx>=1.16,<1.24",
            "onnxruntime>=1.18",
            "matplotlib>=3.7",
            # `make docs-check` (run by `make test`): the API reference.
            "pdoc==16.0.0",
            # tests/test_packaging.py builds the sdist and wheel (no build
            # isolation: the lock's setuptools, nothing downloaded).
            "build>=1.2",
            "setuptools>=61",
            # `make test` runs the portable tests on the JAX and PyTorch backends
            # too. torch pinned: 2.13.0 resolves to the CPU build here; a bare
            # `torch` pulls the CUDA build (several GB). jax: the tested minor.
            "jax>=0.10,<0.11",
            "torch==2.13.0",
            # The protein_sse builder reads MDAnalysisTests' chains (the
            # "proteins" extra); its tests build it from the real files.
            "MDAnalysisTests>=2.7",
            "gemmi>=0.6",
        ],
        # The other Keras backends (KERAS_BACKEND=jax / torch; README "Backends").
        "jax": ["jax>=0.4.30"],
        "torch": ["torch>=2.1"],
        "export": ["tf2onnx>=1.16,<1.18", "onnx>=1.16,<1.24", "onnxruntime>=1.18"],
        "data": ["tensorflow-datasets>=4.9,<4.10", "trimesh>=4"],
        # The protein_sse dataset: real chains and their DSSP labels from
        # MDAnalysisTests (60 MB; it installs MDAnalysis), parsed with gemmi.
        "proteins": [
            "tensorflow-datasets>=4.9,<4.10",
            "MDAnalysisTests>=2.7",
            "gemmi>=0.6",
        ],
        # The `tfds build` command line of TFDS 4.9.10 imports these on start-up
        # (not needed for tfds.load or the builders themselves).
        "tfds-cli": ["tensorflow-datasets>=4.9,<4.10", "apache-beam", "mlcroissant"],
        "plot": ["matplotlib>=3.7"],
        # Everything the example scripts use (TensorBoard logs included).
        "examples": [
            "tensorflow-datasets>=4.9,<4.10",
            "trimesh>=4",
            "tf2onnx>=1.16,<1.18",
            "onnx>=1.16,<1.24",
            "onnxruntime>=1.18",
            "matplotlib>=3.7",
            "tensorboard",
        ],
    },
    entry_points={"console_scripts": ["keras-se3 = keras_se3.export.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
