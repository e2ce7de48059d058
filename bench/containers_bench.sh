#!/usr/bin/env bash
# A node's view (issue 25, item 5): N real memory cgroups with limits, each with one sleeping
# process, under one parent; then `report --containers` (one full sample, as the exporter's
# `monitor --containers` takes at each interval) and `monitor --containers --listen` serving
# them: wall time and CPU per sample, peak RSS (/usr/bin/time %M), the size of /metrics.
#
# Usage (root, a memory controller): bench/containers_bench.sh [N] [MEMOPT]
#   (default 2000 build/memopt). The cgroups and their processes are removed at the end.
#
# Measured 2026-12-06 on the shared 2-core build machine (cgroup v1, load ~4 from a CI run),
# N=2000 (creating them: 61 s):
#   | command                                  | wall s | CPU s | peak RSS | output   |
#   |------------------------------------------|--------|-------|----------|----------|
#   | report --containers --format json        | 1.65   | 0.90  | 6.9 MiB  | 458 KiB  |
#   | report --containers --format prometheus  | 1.20   | 0.76  | 8.2 MiB  | 932 KiB  |
#   | monitor 5 --containers --listen, 16 s    | -      | 2.40  | 17.2 MiB | 2000 in /metrics |
# (the monitor's 2.40 s is 4 full samples: ~0.6 s each). N=200: 0.24 s and 4.2 MiB for the
# report, 9.4 MiB for the monitor.
set -euo pipefail
cd "$(dirname "$(realpath "$0")")/.."
N=${1:-2000}
memopt=${2:-build/memopt}
export MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1
if [[ $(id -u) -ne 0 ]]; then echo "containers_bench: needs root (it creates cgroups)" >&2; exit 2; fi
if [[ -d /sys/fs/cgroup/memory ]]; then
  mount=/sys/fs/cgroup/memory limit_file=memory.limit_in_bytes
elif grep -qw memory /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
  mount=/sys/fs/cgroup limit_file=memory.max
else
  echo "containers_bench: no memory controller to create cgroups in" >&2; exit 2
fi
parent=$mount/memopt-bench-$$
work=$(mktemp -d)
cleanup() {
  for d in "$parent"/c*; do
    [[ -d $d ]] || continue
    while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done < "$d/cgroup.procs"
  done
  sleep 0.5
  for d in "$parent"/c*; do rmdir "$d" 2>/dev/null || true; done
  rmdir "$parent" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$parent"
[[ $mount == /sys/fs/cgroup ]] && echo +memory > "$parent/cgroup.subtree_control"
start=$(date +%s.%N)
for i in $(seq 1 "$N"); do
  d=$parent/c$i
  mkdir "$d"
  echo $(( (64 + i % 64) << 20 )) > "$d/$limit_file"
  sh -c "echo \$\$ > $d/cgroup.procs; exec sleep 3600" &
  disown
done
sleep 1
echo "created $N cgroups with a process each in $(echo "$(date +%s.%N) - $start" | bc) s"
path=/${parent#"$mount"/}

echo "| command | wall s | user+sys s | peak RSS KiB | output bytes |"
echo "|---|---|---|---|---|"
for format in json prometheus; do
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" \
    "$memopt" --cgroup "$path" report --containers --format "$format" > "$work/out"
  read -r wall user sys rss < <(tail -n 1 "$work/time")
  echo "| report --containers --format $format | $wall | $(echo "$user + $sys" | bc) | $rss | $(stat -c %s "$work/out") |"
done
listed=$(grep -c '^memopt_container_status_level{' "$work/out" || true)
echo "containers listed: $listed of $N"

# The exporter: 3 full samples at 5 s, then /metrics.
port=$((20000 + $$ % 20000))
/usr/bin/time -f "%e %U %S %M" -o "$work/mtime" \
  "$memopt" --cgroup "$path" monitor 5 --containers --listen "127.0.0.1:$port" --duration 16 \
  > /dev/null 2> "$work/merr" &
monitor=$!
sleep 14
metrics=$(curl -s "http://127.0.0.1:$port/metrics" | grep -c '^memopt_container_status_level{' || true)
wait "$monitor" || true
read -r wall user sys rss < <(tail -n 1 "$work/mtime")
echo "monitor 5 --containers --listen, 16 s (4 full samples): user+sys $(echo "$user + $sys" | bc) s, peak RSS $rss KiB, /metrics containers: $metrics"
