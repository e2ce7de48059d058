"""`pip install .`: scikit-build runs CMake (CMakeLists.txt) and installs into the wheel

- the ``memopt`` package: python/memopt (with type stubs) and the ``_memopt`` module;
- the ``memopt`` executable in the environment's ``bin/`` (on PATH in an active venv), with its
  HTTP module in ``lib/memopt/``, where the executable looks for it (``$ORIGIN/../lib/memopt``).

The version is CMake's ``project(VERSION)``: the one source of truth.
"""

import re
import shutil
from pathlib import Path

from skbuild import setup

HERE = Path(__file__).resolve().parent
VERSION = re.search(
    r"^project\(memopt VERSION (\S+)", (HERE / "CMakeLists.txt").read_text(), re.MULTILINE
).group(1)

# ccache where it is installed: a second `pip install .` compiles only what changed (scikit-build
# keeps its build directory, _skbuild/, between installs too).
CCACHE = (
    ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache", "-DCMAKE_C_COMPILER_LAUNCHER=ccache"]
    if shutil.which("ccache")
    else []
)

setup(
    name="memopt",
    version=VERSION,
    description="The memory guard for AI-model inference containers",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=["memopt"],
    package_dir={"memopt": "python/memopt"},
    package_data={"memopt": ["py.typed", "*.pyi"]},
    zip_safe=False,
    # No tests or benchmarks; the Python package into <cmake-install>/python (see
    # python/CMakeLists.txt), where scikit-build finds package_dir's files.
    cmake_install_target="install/strip",  # no symbol tables: 2.6 -> 2.1 MB for the executable
    cmake_args=[
        "-DCMAKE_BUILD_TYPE=Release",
        "-DMEMOPT_BUILD_TESTS=OFF",
        "-DMEMOPT_BUILD_BENCH=OFF",
        "-DMEMOPT_BUILD_PYTHON=ON",
        *CCACHE,
    ],
    classifiers=[
        "Programming Language :: C++",
        "Programming Language :: Python :: 3",
        "Operating System :: POSIX :: Linux",
        "Topic :: System :: Monitoring",
    ],
)
