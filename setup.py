import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"',
    (HERE / "sklearn_lista" / "__init__.py").read_text(),
    re.MULTILINE,
).group(1)

DASK = ["dask[array]>=2024.1", "distributed>=2024.1", "dask-ml>=2024.4"]
ONNX = ["onnx>=1.14", "onnxruntime>=1.16", "skl2onnx>=1.16"]

EXTRAS = {
    "test": [
        "pytest>=7",
        "pytest-xdist",
        "ruff>=0.5",
        "pandas",
        "matplotlib",
        "numpydoc>=1.6",
        *DASK,
        *ONNX,
    ],
    "doc": [
        "sphinx>=7",
        "sphinx-gallery>=0.15",
        "numpydoc>=1.6",
        "pydata-sphinx-theme",
        "matplotlib",
    ],
    "bench": ["matplotlib", "psutil", "celer", "skglm", "spams-bin"],
    # The main job's figure (python -m sklearn_lista) and plot_gap_curves.
    "plot": ["matplotlib"],
    "dask": DASK,
    "onnx": ONNX,
}

setup(
    name="sklearn-lista",
    version=VERSION,
    description=(
        "Fast and learned sparse coding (ISTA, FISTA, LISTA, FacNet) for scikit-learn"
    ),
    long_description=(HERE / "README.rst").read_text(),
    long_description_content_type="text/x-rst",
    license="BSD-3-Clause",
    packages=find_packages(include=["sklearn_lista", "sklearn_lista.*"]),
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "scikit-learn>=1.6",
        "numba>=0.59",
        "joblib>=1.3",
        "threadpoolctl>=3.1",
    ],
    extras_require=EXTRAS,
    classifiers=[
        "Programming Language :: Python :: 3",
        "Intended Audience :: Science/Research",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "License :: OSI Approved :: BSD License",
    ],
)
