#!/usr/bin/env bash
# Checks the Python package against a real NVIDIA GPU (issue 7): torch allocates a 4 GiB
# tensor and deletes it (torch keeps it reserved, NVML still shows it); then
# memopt.cleanup_gpu_memory() must report, and NVML and nvidia-smi must show, at least
# 3.5 GiB released for this pid. Needs the driver, nvidia-smi and a python3 with CUDA-enabled
# torch; builds the module with Debian's pybind11 when present, else with the pybind11 headers
# torch ships. No network is used.
#
# Usage: scripts/gpu-check-python.sh [BUILD_DIR]   (default: build-gpu-python)
# Env:   PYTHON   the interpreter with CUDA torch (default: the first python3 on PATH that has it)
#
# Prints PASS / FAIL per check; exits 1 when any check failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

build=${1:-build-gpu-python}
failures=0
pass() { echo "PASS  $*"; }
fail() {
  echo "FAIL  $*"
  failures=$((failures + 1))
}
finish() {
  echo
  if ((failures)); then
    echo "gpu-check-python: $failures check(s) failed"
    exit 1
  fi
  echo "gpu-check-python: all checks passed"
  exit 0
}

command -v nvidia-smi >/dev/null || {
  fail "nvidia-smi not found: this check needs an NVIDIA driver"
  finish
}
python=${PYTHON:-}
if [[ -z $python ]]; then
  for candidate in python3 /usr/bin/python3 /usr/local/bin/python3 /opt/conda/bin/python3; do
    if command -v "$candidate" >/dev/null &&
      "$candidate" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
      python=$(command -v "$candidate")
      break
    fi
  done
fi
[[ -n $python ]] || {
  fail "no python3 with CUDA-enabled torch found (set PYTHON)"
  finish
}
echo "== python: $python ($("$python" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda)'))"

# ---- build -------------------------------------------------------------------------------
echo "== build ($build)"
log=$(mktemp)
if cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DMEMOPT_BUILD_TESTS=OFF \
  -DMEMOPT_BUILD_BENCH=OFF -DPython_EXECUTABLE="$python" >"$log" 2>&1 &&
  cmake --build "$build" --target memopt_python -j"$(nproc)" >>"$log" 2>&1; then
  package=$build/python
  pass "build with CMake's pybind11: $package/memopt"
else
  # No pybind11 CMake package here: compile the module with torch's bundled pybind11 headers.
  echo "   (no pybind11 for CMake; using torch's headers)"
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DMEMOPT_BUILD_TESTS=OFF \
    -DMEMOPT_BUILD_BENCH=OFF -DMEMOPT_BUILD_PYTHON=OFF >>"$log" 2>&1 &&
    cmake --build "$build" --target memopt_core -j"$(nproc)" >>"$log" 2>&1
  package=$build/python-manual
  mkdir -p "$package/memopt"
  cp python/memopt/*.py "$package/memopt/"
  read -r py_include torch_include suffix < <("$python" -c '
import sysconfig, torch.utils.cpp_extension as e
print(sysconfig.get_paths()["include"], e.include_paths()[0], sysconfig.get_config_var("EXT_SUFFIX"))')
  if c++ -std=c++20 -O2 -shared -fPIC -fvisibility=hidden -DFMT_HEADER_ONLY=1 -Iinclude \
    -isystem "$py_include" -isystem "$torch_include" python/memopt_module.cpp \
    "$build/libmemopt_core.a" -ldl -Wl,--exclude-libs,ALL -o "$package/memopt/_memopt$suffix" >>"$log" 2>&1; then
    pass "build with torch's pybind11: $package/memopt"
  else
    tail -n 30 "$log"
    fail "build"
    finish
  fi
fi

# ---- the 4 GiB check ---------------------------------------------------------------------
echo "== cleanup_gpu_memory() after deleting a 4 GiB tensor"
PYTHONPATH=$package "$python" - <<'PY'
import os, subprocess, sys
import torch
import memopt

GIB = 1 << 30
pid = os.getpid()

def smi_bytes():
    out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory",
                          "--format=csv,noheader,nounits"], capture_output=True, text=True).stdout
    used = [int(m) for p, m in (l.split(", ") for l in out.strip().splitlines() if l) if int(p) == pid]
    return sum(used) * (1 << 20) if used else None

def mib(value):
    return "unknown" if value is None else f"{value / (1 << 20):.0f} MiB"

tensor = torch.ones(4 * GIB, dtype=torch.uint8, device="cuda")
torch.cuda.synchronize()
del tensor
usage = memopt.monitor_memory_usage("after_del")
before_smi = smi_bytes()
print(f"   reserved by torch {mib(usage['torch_reserved_bytes'])}, allocated "
      f"{mib(usage['torch_allocated_bytes'])}; NVML (memopt) {mib(usage['gpu_used_bytes'])}, "
      f"nvidia-smi {mib(before_smi)}")
result = memopt.cleanup_gpu_memory()
after_smi = smi_bytes()
print(f"   cleanup: gc_collected {result['gc_collected']}, torch steps {result['torch_steps']}, "
      f"gpu_released {mib(result['gpu_released_bytes'])}, torch reserved released "
      f"{mib(result['torch_reserved_released_bytes'])}; nvidia-smi after {mib(after_smi)}")
for step in result["steps"]:
    print(f"   step {step['name']}: {step['status']} {step['reason'] or ''}")
failed = 0
def check(ok, text):
    global failed
    print(("PASS  " if ok else "FAIL  ") + text)
    failed += not ok
check(usage["torch_reserved_bytes"] is not None and usage["torch_reserved_bytes"] >= 4 * GIB,
      "torch keeps the deleted tensor reserved")
check(result["gpu_released_bytes"] is not None and result["gpu_released_bytes"] >= 3.5 * GIB,
      f"cleanup_gpu_memory() reports >= 3.5 GiB released for pid {pid}")
check(before_smi is not None and after_smi is not None and before_smi - after_smi >= 3.5 * GIB,
      "nvidia-smi shows >= 3.5 GiB released for that pid")
sys.exit(1 if failed else 0)
PY
status=$?
((status == 0)) || failures=$((failures + 1))
finish
