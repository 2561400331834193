from setuptools import find_packages, setup

setup(
    name="keras-se3",
    version="0.1.0",
    description="SE(3)-equivariant 3D steerable CNNs (Weiler et al. 2018) for Keras 3",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    # Only the library: nothing here installs a top-level package called `datasets`.
    packages=find_packages(include=["keras_se3", "keras_se3.*"]),
    install_requires=[
        "tensorflow>=2.16,<2.22",
        "keras>=3.5,<3.16",
        "numpy>=1.26",
        "scipy>=1.15",  # scipy.special.sph_harm_y
    ],
    extras_require={
        "test": ["pytest>=8", "pytest-xdist>=3.5", "ruff>=0.6"],
        "export": ["tf2onnx>=1.16,<1.18", "onnx>=1.16,<1.24", "onnxruntime>=1.18"],
        "data": ["tensorflow-datasets>=4.9,<4.10", "trimesh>=4"],
        "plot": ["matplotlib>=3.7"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
