"""Process names that are not UTF-8 (issue: memopt.report() raised RuntimeError from
nlohmann's type_error.316). The kernel cuts comm at 15 bytes, splitting `ab模型推理服务器`
inside a character; any process may also name itself with raw bytes."""

import ctypes
import json
import os
import shutil
import signal

import memopt
from conftest import FIXTURES

CUT = "ab模型推理服务器".encode()[:15]
RAW = b"\xff\xfe x"


def test_report_of_a_tree_with_hostile_names(tmp_path, no_nvml):
    shutil.copytree(FIXTURES / "v2-nested-parent-limit", tmp_path, dirs_exist_ok=True)
    (tmp_path / "proc" / "1" / "comm").write_bytes(CUT + b"\n")
    (tmp_path / "proc" / "7" / "comm").write_bytes(RAW + b"\n")
    report = memopt.report(procfs=str(tmp_path / "proc"), sysfs=str(tmp_path / "sys"))
    names = sorted(p["name"] for p in report["processes"])
    assert names == sorted(["ab模型推理\\xe6", "\\xff\\xfe x"])
    json.dumps(report, ensure_ascii=False).encode("utf-8")  # every string is valid UTF-8


def test_report_of_a_real_process_named_with_raw_bytes(no_nvml):
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        libc = ctypes.CDLL(None)
        libc.prctl(15, ctypes.c_char_p(RAW), 0, 0, 0)  # PR_SET_NAME
        os.write(write_end, b"x")
        signal.pause()
        os._exit(0)
    try:
        os.read(read_end, 1)
        report = memopt.report(top=100000)
        by_pid = {p["pid"]: p["name"] for p in report["processes"]}
        assert by_pid.get(pid) == "\\xff\\xfe x", by_pid.get(pid)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
