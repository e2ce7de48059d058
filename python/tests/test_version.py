"""One version everywhere: CMake's project(VERSION), memopt.__version__, the CLI, the report."""

import re
import subprocess

import memopt
from conftest import REPO


def test_version_is_cmake_project_version():
    cmake = (REPO / "CMakeLists.txt").read_text()
    assert memopt.__version__ == re.search(r"^project\(memopt VERSION (\S+)", cmake, re.M).group(1)


def test_cli_and_module_agree(memopt_binary):
    run = subprocess.run([memopt_binary, "--version"], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"memopt {memopt.__version__} (revision {memopt.__revision__})\n"


def test_report_carries_the_version(no_nvml):
    assert memopt.report()["memopt_version"] == memopt.__version__


def test_revision_is_a_commit_or_unknown():
    assert re.fullmatch(r"[0-9a-f]{7,40}(-dirty)?|unknown", memopt.__revision__), memopt.__revision__
