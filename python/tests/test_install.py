"""The README's install command puts a working package where that Python finds local packages."""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest


def test_cmake_install_component_python(tmp_path):
    build = os.environ.get("MEMOPT_BUILD_DIR")
    if not build:
        pytest.skip("MEMOPT_BUILD_DIR is not set (ctest sets it)")
    env = dict(os.environ, DESTDIR=str(tmp_path))
    run = subprocess.run(["cmake", "--install", build, "--component", "python"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    site = tmp_path / sysconfig.get_path("platlib").lstrip("/")
    installed = sorted(p.name for p in (site / "memopt").iterdir())
    assert installed[0] == "__init__.py"
    # Every module, py.typed and the C++ module's stub, as in python/memopt, and the module.
    source = Path(__file__).resolve().parents[1] / "memopt"
    assert [n for n in installed if not n.endswith(".so")] == sorted(
        p.name for p in source.iterdir() if p.suffix in (".py", ".pyi") or p.name == "py.typed")
    assert any(n.startswith("_memopt.") and n.endswith(".so") for n in installed)
    probe = subprocess.run(
        [sys.executable, "-c", "import memopt; print(memopt.__file__); print(memopt.parse_size('2G'))"],
        env=dict(os.environ, PYTHONPATH=str(site)), cwd=tmp_path, capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == [str(site / "memopt" / "__init__.py"), str(2 << 30)]
