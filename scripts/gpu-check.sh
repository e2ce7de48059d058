#!/usr/bin/env bash
# Checks memopt's NVML reader against a real NVIDIA GPU (issue 3). Needs the driver and
# nvidia-smi; the process check also needs python3 with CUDA-enabled torch, the timing check
# Google Benchmark (libbenchmark-dev). No network is used.
#
# Usage: scripts/gpu-check.sh [BUILD_DIR]        (default: build-gpu)
# Env:   MEMOPT_GPU_TOLERANCE_MIB  allowed difference from nvidia-smi (default 8 MiB)
#
# Prints PASS / FAIL / SKIP per check; exits 1 when any check failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

build=${1:-build-gpu}
tolerance_mib=${MEMOPT_GPU_TOLERANCE_MIB:-8}
failures=0
pass() { echo "PASS  $*"; }
fail() {
  echo "FAIL  $*"
  failures=$((failures + 1))
}
skip() { echo "SKIP  $*"; }

work=$(mktemp -d)
python_pid=
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  if [[ -n $python_pid ]]; then
    kill "$python_pid" 2>/dev/null
    wait "$python_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT

finish() {
  echo
  if ((failures)); then
    echo "gpu-check: $failures check(s) failed"
    exit 1
  fi
  echo "gpu-check: all checks passed"
  exit 0
}

# ---- build -------------------------------------------------------------------------------
echo "== build ($build)"
if cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DMEMOPT_BUILD_TESTS=OFF \
  -DMEMOPT_BUILD_BENCH=OFF -DMEMOPT_BUILD_PYTHON=OFF >"$work/configure.log" 2>&1 &&
  cmake --build "$build" --target memopt -j"$(nproc)" >"$work/build.log" 2>&1; then
  pass "build: $build/memopt"
else
  tail -n 30 "$work/configure.log" "$work/build.log" 2>/dev/null
  fail "build"
  finish
fi
memopt=$build/memopt

if ! command -v nvidia-smi >/dev/null; then
  fail "nvidia-smi not found: this check needs an NVIDIA driver"
  finish
fi
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader

# ---- 1. memory per device against nvidia-smi ---------------------------------------------
echo
echo "== memory per device: memopt report --json against nvidia-smi (MiB, tolerance ${tolerance_mib} MiB)"
echo "   NVML v1 'used' includes the driver's reserved memory; memopt reports v2 (used without"
echo "   reserved, reserved separately). The comparison is v1 semantics: nvidia-smi memory.used"
echo "   against memopt used + reserved where reserved is known; a match with v2 used is named."
if ! "$memopt" report --json >"$work/report.json" 2>"$work/report.err"; then
  cat "$work/report.err"
  fail "memopt report --json exited non-zero"
  finish
fi
# Matched by UUID (index and uuid added to the query), so MIG instances and order do not matter.
if ! nvidia-smi --query-gpu=index,uuid,memory.total,memory.used --format=csv,noheader,nounits \
  >"$work/smi.csv"; then
  fail "nvidia-smi --query-gpu failed"
  finish
fi
if ! python3 - "$work/report.json" "$work/smi.csv" "$tolerance_mib" <<'PY'; then
import json, sys

report = json.load(open(sys.argv[1]))
tolerance = float(sys.argv[3])
mib = 1024 * 1024
gpus = {g["uuid"]: g for g in report["gpus"]}
nvml_notes = [a for a in report["advice"] if a["id"].startswith(("nvml", "no_nvml", "no_gpu"))]
for note in nvml_notes:
    print(f"      note {note['id']}: {note['message']}")
failed = False
lines = [l for l in open(sys.argv[2]) if l.strip()]
if not lines:
    print("FAIL  nvidia-smi lists no GPU")
    sys.exit(1)
for line in lines:
    index, uuid, total, used = [f.strip() for f in line.split(",")]
    g = gpus.get(uuid)
    if g is None:
        print(f"FAIL  gpu {index} {uuid}: missing from memopt's gpus {sorted(gpus)}")
        failed = True
        continue
    total_m = g["total_bytes"] / mib
    used_m = g["used_bytes"] / mib
    reserved = g["reserved_bytes"]
    used_v1_m = (g["used_bytes"] + (reserved or 0)) / mib
    smi_total, smi_used = float(total), float(used)
    detail = (f"nvidia-smi total {smi_total:.0f} used {smi_used:.0f}; memopt total {total_m:.1f} "
              f"used {used_m:.1f} reserved "
              + (f"{reserved / mib:.1f}" if reserved is not None else "unknown"))
    if abs(total_m - smi_total) <= tolerance:
        print(f"PASS  gpu {index} total: {detail}")
    else:
        print(f"FAIL  gpu {index} total: {detail}")
        failed = True
    if abs(used_v1_m - smi_used) <= tolerance:
        print(f"PASS  gpu {index} used (v1: used + reserved = {used_v1_m:.1f})")
    elif abs(used_m - smi_used) <= tolerance:
        print(f"PASS  gpu {index} used (nvidia-smi matches v2 used {used_m:.1f}, without reserved)")
    else:
        print(f"FAIL  gpu {index} used: neither v1 {used_v1_m:.1f} nor v2 {used_m:.1f} is "
              f"within {tolerance:.0f} MiB of {smi_used:.0f}")
        failed = True
sys.exit(1 if failed else 0)
PY
  failures=$((failures + 1))
fi

# ---- 2. a torch process holding 2 GiB ------------------------------------------------------
echo
echo "== process: python3 allocating a 2 GiB torch tensor on the GPU"
if ! python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' \
  2>/dev/null; then
  skip "python3 with CUDA-enabled torch is not available"
else
  python3 - "$work/ready" <<'PY' &
import sys, time, torch
x = torch.empty(2 * 1024**3, dtype=torch.uint8, device="cuda")
x.fill_(1)
torch.cuda.synchronize()
open(sys.argv[1], "w").write("ready")
time.sleep(300)
PY
  python_pid=$!
  for _ in $(seq 1 240); do
    [[ -e $work/ready ]] && break
    kill -0 "$python_pid" 2>/dev/null || break
    sleep 0.5
  done
  if [[ ! -e $work/ready ]]; then
    fail "the torch process did not allocate its tensor within 120 s"
  else
    "$memopt" report --json >"$work/report2.json"
    if ! python3 - "$work/report2.json" "$python_pid" <<'PY'; then
import json, sys

report = json.load(open(sys.argv[1]))
pid = int(sys.argv[2])
two_gib = 2 * 1024**3
found = [(g, p) for g in report["gpus"] for p in g["processes"] if p["pid"] == pid]
if not found:
    listed = [(g["index"], p["pid"], p["used_bytes"]) for g in report["gpus"] for p in g["processes"]]
    print(f"FAIL  pid {pid} not among memopt's GPU processes {listed}")
    sys.exit(1)
for g, p in found:
    used = p["used_bytes"]
    shown = "null" if used is None else f"{used} bytes ({used / 1024**3:.2f} GiB)"
    if used is not None and used >= two_gib:
        print(f"PASS  gpu {g['index']} lists pid {pid} ({p['name']}) with {shown}")
        sys.exit(0)
print(f"FAIL  pid {pid} listed with {shown}, expected >= 2 GiB")
sys.exit(1)
PY
      failures=$((failures + 1))
    fi
  fi
  kill "$python_pid" 2>/dev/null
  wait "$python_pid" 2>/dev/null
  python_pid=
fi

# ---- 3. timing: 100 reads ----------------------------------------------------------------
echo
echo "== timing: 100 GPU reads on one NVML session (bench/nvml_bench.cpp; target < 2 ms per device)"
if cmake -S . -B "$build" -DMEMOPT_BUILD_BENCH=ON >"$work/configure-bench.log" 2>&1 &&
  cmake --build "$build" --target memopt_bench -j"$(nproc)" >"$work/build-bench.log" 2>&1; then
  "$build/bench/memopt_bench" --benchmark_filter=nvml --benchmark_format=json \
    >"$work/bench.json" 2>"$work/bench.err"
  if ! python3 - "$work/bench.json" <<'PY'; then
import json, sys

scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
runs = {b["name"].split("/")[0]: b for b in json.load(open(sys.argv[1]))["benchmarks"]}
one_shot = runs.get("BM_nvml_read_gpus")
session = runs.get("BM_nvml_session_read")
if one_shot:
    ms = one_shot["real_time"] * scale[one_shot["time_unit"]]
    print(f"      one-shot read_gpus (dlopen + nvmlInit + read + shutdown): {ms:.2f} ms "
          f"({one_shot['iterations']} runs)")
if not session:
    print("FAIL  BM_nvml_session_read did not run")
    sys.exit(1)
devices = int(session.get("devices", 0))
ms = session["real_time"] * scale[session["time_unit"]]
if devices == 0:
    print(f"FAIL  the session read saw no GPU ({ms:.3f} ms per read)")
    sys.exit(1)
per_device = ms / devices
verdict = "PASS" if per_device < 2.0 else "FAIL"
print(f"{verdict}  {session['iterations']} reads: {ms:.3f} ms per read, {devices} device(s), "
      f"{per_device:.3f} ms per device per read (target < 2 ms)")
sys.exit(0 if verdict == "PASS" else 1)
PY
    failures=$((failures + 1))
  fi
else
  tail -n 20 "$work/configure-bench.log" "$work/build-bench.log" 2>/dev/null
  fail "timing: memopt_bench did not build (Google Benchmark installed?)"
fi

finish
