#!/usr/bin/env bash
# memopt against a real NVIDIA GPU (issue 13, part 5): one prepared run, at most ~5 minutes on
# one GPU, one JSON summary on stdout (progress on stderr). Needs the driver and nvidia-smi;
# the process, cleanup and fork checks need python3 with CUDA-enabled torch (skipped without).
# No network is used.
#
# Usage: scripts/gpu-check.sh [BUILD_DIR]          (default: build-gpu, a Release build)
#        scripts/gpu-check.sh --self-test          bash -n, shellcheck and the Python's syntax
# Env:   MEMOPT_GPU_CHECK_DEVICE   the CUDA device the torch checks use (default 0)
#
# The summary: {"status": "passed|failed|skipped", "checks": [{"name", "status", ...}], ...}.
# Exit status: 0 passed or skipped (no GPU here), 1 a check failed, 2 the build failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

if [[ ${1:-} == --self-test ]]; then
  bash -n "$0" || exit 1
  if command -v shellcheck >/dev/null; then shellcheck "$0" || exit 1; fi
  # The embedded Python, compiled (not run).
  sed -n '/^# ---- harness ----$/,/^HARNESS$/p' "$0" | sed '1,2d;$d' |
    python3 -c 'import sys; compile(sys.stdin.read(), "gpu-check harness", "exec")' || exit 1
  echo "gpu-check: self-test passed" >&2
  exit 0
fi

build=${1:-build-gpu}
say() { echo "gpu-check: $*" >&2; }
skipped() {
  printf '{"status": "skipped", "reason": "%s", "checks": []}\n' "$1"
  exit 0
}

if ! command -v nvidia-smi >/dev/null; then skipped "nvidia-smi not found: no NVIDIA driver here"; fi
if ! nvidia-smi -L >/dev/null 2>&1; then skipped "nvidia-smi -L fails: no usable GPU here"; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- build: Release, stripped (what gets copied to a GPU host should be small) -------------
say "building Release in $build"
start=$SECONDS
generator=()
if command -v ninja >/dev/null && [[ ! -e $build/CMakeCache.txt ]]; then generator=(-G Ninja); fi
if ! { cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DMEMOPT_BUILD_TESTS=OFF -DMEMOPT_BUILD_BENCH=OFF >"$work/configure.log" 2>&1 &&
  cmake --build "$build" --target memopt -j"$(nproc)" >"$work/build.log" 2>&1; }; then
  tail -n 30 "$work/configure.log" "$work/build.log" >&2
  printf '{"status": "failed", "reason": "the Release build failed", "checks": []}\n'
  exit 2
fi
# The Python package is needed by the torch checks only; without pybind11 they are skipped.
python_built=0
if cmake --build "$build" --target memopt_python -j"$(nproc)" >"$work/build-python.log" 2>&1; then
  python_built=1
fi
unstripped=$(stat -c %s "$build/memopt")
strip --strip-unneeded "$build/memopt"
if ((python_built)); then strip --strip-unneeded "$build"/python/memopt/_memopt*.so; fi
say "built in $((SECONDS - start)) s"

# ---- harness ----
python3 - "$build" "$unstripped" "$((SECONDS - start))" "$python_built" <<'HARNESS'
import ctypes, json, os, subprocess, sys, time

build, unstripped, build_s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
python_built = sys.argv[4] == "1"
memopt = os.path.join(build, "memopt")
python_dir = os.path.join(build, "python")
device = int(os.environ.get("MEMOPT_GPU_CHECK_DEVICE", "0"))
MIB, GIB = 1 << 20, 1 << 30
checks = []


def log(text):
    print(f"gpu-check: {text}", file=sys.stderr, flush=True)


def check(name, ok, **facts):
    checks.append(dict(name=name, status="passed" if ok else "failed", **facts))
    log(f"{'PASS' if ok else 'FAIL'} {name} {json.dumps(facts)}")


def skip(name, reason):
    checks.append(dict(name=name, status="skipped", reason=reason))
    log(f"SKIP {name}: {reason}")


def smi(query, kind="query-gpu"):
    out = subprocess.run(["nvidia-smi", f"--{kind}={query}", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return [[f.strip() for f in line.split(",")] for line in out.splitlines() if line.strip()]


def report():
    out = subprocess.run([memopt, "report", "--json"], capture_output=True, text=True,
                         timeout=60)
    return json.loads(out.stdout)


def run_python(code, timeout=120, env=None):
    """`code` in a fresh python3 that imports the built memopt; its last stdout line is JSON."""
    environment = dict(os.environ, PYTHONPATH=python_dir, **(env or {}))
    done = subprocess.run([sys.executable, "-c", code, str(device)], capture_output=True,
                          text=True, timeout=timeout, env=environment)
    if done.returncode != 0:
        return {"error": (done.stderr or done.stdout)[-2000:]}
    return json.loads(done.stdout.splitlines()[-1])


def in_pid_namespace():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("NSpid:"):
                return len(line.split()) > 2
    return False


# ---- facts -------------------------------------------------------------------------------
facts = {"memopt_bytes_stripped": os.path.getsize(memopt), "memopt_bytes_unstripped": unstripped,
         "build_s": build_s, "in_pid_namespace": in_pid_namespace()}
gpus = smi("index,uuid,name,driver_version,mig.mode.current,persistence_mode,memory.total,"
           "memory.reserved,memory.used")
facts["gpus"] = [dict(zip(["index", "uuid", "name", "driver", "mig", "persistence", "total_mib",
                           "reserved_mib", "used_mib"], g)) for g in gpus]
log(f"facts {json.dumps(facts)}")

# ---- memopt against nvidia-smi: total and reserved exact, used between two samples ----------
before = {g[1]: g for g in gpus}
mine = {g["uuid"]: g for g in report()["gpus"]}
after = {g[1]: g for g in smi("index,uuid,name,driver_version,mig.mode.current,"
                               "persistence_mode,memory.total,memory.reserved,memory.used")}
for uuid, smi_before in before.items():
    g = mine.get(uuid)
    if g is None:
        check(f"gpu {smi_before[0]} listed", False, uuid=uuid, memopt=sorted(mine))
        continue
    if g["total_bytes"] is None:
        skip(f"gpu {smi_before[0]} memory", "NVML refuses this GPU's memory here (MIG parent)")
        continue
    total_mib, reserved_mib = int(smi_before[6]), smi_before[7]
    used = sorted([int(smi_before[8]), int(after[uuid][8])])
    memopt_used = g["used_bytes"] / MIB
    check(f"gpu {smi_before[0]} total", g["total_bytes"] // MIB == total_mib,
          memopt_mib=g["total_bytes"] / MIB, smi_mib=total_mib)
    if reserved_mib.isdigit() and g["reserved_bytes"] is not None:
        check(f"gpu {smi_before[0]} reserved", g["reserved_bytes"] // MIB == int(reserved_mib),
              memopt_mib=g["reserved_bytes"] / MIB, smi_mib=int(reserved_mib))
    check(f"gpu {smi_before[0]} used", used[0] - 1 <= memopt_used <= used[1] + 1,
          memopt_mib=memopt_used, smi_mib_samples=used)

# The torch checks need CUDA-enabled torch and the built Python package.
has_torch = python_built and subprocess.run(
    [sys.executable, "-c", "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"],
    capture_output=True, timeout=120).returncode == 0
NO_TORCH = ("python3 with CUDA-enabled torch is not available" if python_built
            else "the Python package did not build (pybind11 missing?)")

# ---- three torch processes holding 1/2/3 GiB, per pid against --query-compute-apps --------
HOLD = r"""
import sys, time, torch
n, ready = int(sys.argv[1]), sys.argv[2]
x = torch.empty(n << 30, dtype=torch.uint8, device=f"cuda:{sys.argv[3]}")
x.fill_(1); torch.cuda.synchronize()
open(ready, "w").write("ready")
time.sleep(120)
"""
if not has_torch:
    skip("per-process bytes", NO_TORCH)
else:
    holders = {}
    for n in (1, 2, 3):
        ready = f"/tmp/memopt-gpu-check-{os.getpid()}-{n}"
        holders[n] = (subprocess.Popen([sys.executable, "-c", HOLD, str(n), ready, str(device)]),
                      ready)
    deadline = time.time() + 90
    while time.time() < deadline and not all(os.path.exists(r) for _, r in holders.values()):
        time.sleep(0.2)
    apps = {int(pid): int(used) for pid, used in smi("pid,used_memory", "query-compute-apps")
            if pid.isdigit() and used.isdigit()}
    listed = {p["pid"]: p["used_bytes"] for g in report()["gpus"] for p in g["processes"]}
    for n, (proc, ready) in holders.items():
        if facts["in_pid_namespace"] and proc.pid not in apps:
            skip(f"process holding {n} GiB", "NVML's host pids are not ours in this pid namespace")
            continue
        got = listed.get(proc.pid)
        want = apps.get(proc.pid)
        check(f"process holding {n} GiB", got is not None and want is not None and
              abs(got / MIB - want) <= 1 and got >= n * GIB,
              pid=proc.pid, memopt_mib=None if got is None else got / MIB, smi_mib=want)
    for proc, ready in holders.values():
        proc.kill()
        proc.wait()
        if os.path.exists(ready):
            os.unlink(ready)

# ---- import torch, memopt; cleanup: CUDA stays uninitialised, a forked child can use it -----
FORK = r"""
import json, os, sys, torch, memopt
result = memopt.cleanup_gpu_memory()
initialized = torch.cuda.is_initialized()
pid = os.fork()
if pid == 0:
    try:
        x = torch.ones(1 << 20, device=f"cuda:{sys.argv[1]}")
        os._exit(0 if float(x.sum()) == float(1 << 20) else 3)
    except Exception:
        os._exit(4)
_, status = os.waitpid(pid, 0)
step = next(s for s in result["steps"] if s["name"] == "cuda_mem_pools")
print(json.dumps({"initialized_after_cleanup": initialized, "child_status": status,
                  "cuda_step": step}))
"""
if not has_torch:
    skip("cleanup never starts CUDA", NO_TORCH)
else:
    got = run_python(FORK)
    check("cleanup never starts CUDA", got.get("initialized_after_cleanup") is False and
          got.get("child_status") == 0, **got)

# ---- 4 GiB freed and released by cleanup_gpu_memory, then a kernel runs ---------------------
RELEASE = r"""
import json, os, subprocess, sys, torch, memopt
dev = f"cuda:{sys.argv[1]}"
def smi_mine():
    out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory",
                          "--format=csv,noheader,nounits"], capture_output=True, text=True).stdout
    rows = [l.split(",") for l in out.splitlines() if l.strip()]
    return sum(int(u) for p, u in rows if int(p) == os.getpid()) << 20
x = torch.empty(4 << 30, dtype=torch.uint8, device=dev); x.fill_(1); torch.cuda.synchronize()
del x
before = smi_mine()
result = memopt.cleanup_gpu_memory()
after = smi_mine()
y = torch.ones(1 << 20, device=dev); total = float(y.sum()); torch.cuda.synchronize()
print(json.dumps({"nvml_released_bytes": result["gpu_released_bytes"],
                  "smi_released_bytes": before - after, "kernel_ok": total == float(1 << 20),
                  "steps": result["steps"]}))
"""
for name, env in (("release 4 GiB (native allocator)", {}),
                  ("release 4 GiB (cudaMallocAsync)",
                   {"PYTORCH_CUDA_ALLOC_CONF": "backend:cudaMallocAsync"})):
    if not has_torch:
        skip(name, NO_TORCH)
        continue
    got = run_python(RELEASE, env=env)
    released = got.get("nvml_released_bytes")
    if facts["in_pid_namespace"] and released is None:
        # NVML's pid is not ours here: only nvidia-smi's figure (host pids, too) is missing
        skip(name, "NVML's host pids are not ours in this pid namespace")
        continue
    check(name, released is not None and released >= 3.5 * GIB and
          got.get("smi_released_bytes", 0) >= 3.5 * GIB and got.get("kernel_ok") is True, **got)

# ---- NVML read latency per device, and one full load + read ------------------------------
nvml = ctypes.CDLL("libnvidia-ml.so.1")
nvml.nvmlInit_v2()
count = ctypes.c_uint()
nvml.nvmlDeviceGetCount_v2(ctypes.byref(count))
latency = {}


class MemoryV2(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("total", ctypes.c_ulonglong),
                ("reserved", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong),
                ("used", ctypes.c_ulonglong)]


class ProcessInfo(ctypes.Structure):
    _fields_ = [("pid", ctypes.c_uint), ("used", ctypes.c_ulonglong),
                ("gpu_instance", ctypes.c_uint), ("compute_instance", ctypes.c_uint)]


for index in range(count.value):
    handle = ctypes.c_void_p()
    if nvml.nvmlDeviceGetHandleByIndex_v2(index, ctypes.byref(handle)) != 0:
        continue
    samples = []
    for _ in range(200):  # what memopt reads per device: memory, then the process lists
        t = time.perf_counter()
        memory = MemoryV2(version=ctypes.sizeof(MemoryV2) | (2 << 24))
        nvml.nvmlDeviceGetMemoryInfo_v2(handle, ctypes.byref(memory))
        for function in ("nvmlDeviceGetComputeRunningProcesses_v3",
                         "nvmlDeviceGetGraphicsRunningProcesses_v3",
                         "nvmlDeviceGetMPSComputeRunningProcesses_v3"):
            n = ctypes.c_uint(64)
            getattr(nvml, function)(handle, ctypes.byref(n), (ProcessInfo * 64)())
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    latency[index] = {"p50_ms": round(samples[len(samples) // 2], 3),
                      "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 3)}
nvml.nvmlShutdown()
load = run_python("import json, time, memopt._memopt as m\n"
                  "t = time.perf_counter(); m.gpu_bytes_of_this_process()\n"
                  "print(json.dumps({'ms': (time.perf_counter() - t) * 1000}))")
facts["nvml_read_latency_per_device"] = latency
facts["full_load_and_read_ms"] = load.get("ms")
log(f"latency {json.dumps(latency)}, full load + read {load.get('ms')} ms")

failed = [c["name"] for c in checks if c["status"] == "failed"]
print(json.dumps({"status": "failed" if failed else "passed", "failed": failed,
                  "facts": facts, "checks": checks}, indent=1))
sys.exit(1 if failed else 0)
HARNESS
