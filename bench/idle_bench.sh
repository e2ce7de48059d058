#!/usr/bin/env bash
# The CPU of an idle `memopt monitor INTERVAL` (issue 29: `monitor 60` at <= 0.02% of a core),
# for one or more builds side by side on the same target at the same time, so that they share
# the machine's load. CPU time comes from each thread's schedstat (nanoseconds; /proc/PID/stat's
# ticks are 10 ms, too coarse for 0.01%), summed over the threads alive at the end.
#
# Measured 2026-12-06 on the 2-core dev VM, 50 sleeping processes, cgroup v1 with its thresholds
# armed, DURATION=40 INTERVAL=60, before (8c13781) and after (the quick readings through kept
# files, e1a9bac + d4d5d47, on the split engine) side by side:
#   load 0.3-1.2, no socket in /run/memopt:  before 0.171% of a core (1710 us/s), after 0.093%
#   load 0.8-2.8, a stale socket there:      before 0.168% (1679 us/s), after 0.101%
# (with the stale socket, the old build started a thread every 2 s; a thread that ended is not
# in task/*/schedstat, so its "before" is low by that much.)
# What was left then (strace, perf): four quick readings a second (a poll wakeup, a stat of
# the cgroup's directory, four preads; the kernel formats memory.stat and meminfo each time)
# and pressure averages once a second.
# 2026-12-06, 16:09, calm sleeps (the monitor reads nothing between full samples while the
# usage is below the lowest v1 usage threshold armed, the level normal, stalls on PSI
# triggers; signals wake it through a signalfd), DURATION=60, load 3.5-4.3 (three builds
# beside it), before 1b7fca6, after 6065e60, side by side:
#   before 0.1367% of a core (1367 us/s), after 0.0104% (104 us/s; mostly the one full sample
#   of 50 processes in the 60 s)
#
# Usage: bench/idle_bench.sh BUILD_OR_BINARY...   (a build directory or a memopt binary each)
# Env:   DURATION=40 WARMUP=5 INTERVAL=60 PROCESSES=50
# Needs root and a memory cgroup (v1 hierarchy or v2).
set -euo pipefail
(($# > 0)) || { echo "usage: bench/idle_bench.sh BUILD_OR_BINARY..." >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "idle_bench.sh needs root (it creates a memory cgroup)" >&2; exit 2; }
duration=${DURATION:-40}
warmup=${WARMUP:-5}
interval=${INTERVAL:-60}
processes=${PROCESSES:-50}
binaries=()
for b in "$@"; do
  [[ -d $b ]] && b=$b/memopt
  [[ -x $b ]] || { echo "no memopt binary at $b" >&2; exit 2; }
  binaries+=("$(realpath "$b")")
done
if [[ -d /sys/fs/cgroup/memory ]]; then parent=/sys/fs/cgroup/memory; else parent=/sys/fs/cgroup; fi
cgroup=$parent/memopt-idle-bench-$$
mkdir "$cgroup"
holder=""
monitors=()
cleanup() {
  for p in "${monitors[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -n $holder ]] && kill -- "-$holder" 2>/dev/null || true
  for _ in $(seq 50); do
    [[ -z $(cat "$cgroup/cgroup.procs" 2>/dev/null) ]] && break
    sleep 0.1
  done
  rmdir "$cgroup" 2>/dev/null || true
}
trap cleanup EXIT
if [[ -f $cgroup/memory.limit_in_bytes ]]; then
  echo $((1 << 30)) >"$cgroup/memory.limit_in_bytes"
else
  echo $((1 << 30)) >"$cgroup/memory.max"
fi
setsid bash -c "echo \$\$ > $cgroup/cgroup.procs; for i in \$(seq $processes); do sleep 100000 & done; wait" &
holder=$!
sleep 2
for b in "${binaries[@]}"; do
  MEMOPT_NVML_LIBRARY=/nonexistent "$b" --cgroup "$cgroup" monitor "$interval" >/dev/null 2>&1 &
  monitors+=($!)
done
sleep "$warmup"
# Nanoseconds on a CPU, all threads of PID.
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{s += $1} END {print s}'; }
before=()
for p in "${monitors[@]}"; do before+=("$(cpu_ns "$p")"); done
sleep "$duration"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); monitor $interval on $cgroup ($processes processes), ${duration} s"
for i in "${!monitors[@]}"; do
  after=$(cpu_ns "${monitors[$i]}")
  awk -v b="${before[$i]}" -v a="$after" -v d="$duration" -v n="${binaries[$i]}" \
    'BEGIN {printf "  %-40s %.4f%% of a core (%.0f us/s)\n", n, (a - b) / d / 1e7, (a - b) / d / 1e3}'
done
