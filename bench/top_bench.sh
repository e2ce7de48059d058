#!/usr/bin/env bash
# `memopt top` cost (issue 30): CPU as % of one core at interval 1 and 5 with PROCESSES idle
# processes in the target cgroup, and resident memory (VmRSS at the end, VmHWM), beside
# `memopt monitor` at the same interval on the same target. tmux gives top its terminal
# (120x40); each command runs DURATION seconds after a WARMUP.
#
# Measured 2026-12-06 on the shared 2-core dev VM with compiles beside it (load 12-13: CPU
# figures are upper bounds), DURATION=30, 500 sleeping processes, cgroup v1:
#   command          interval   cpu%   VmRSS      VmHWM
#   memopt top              1   7.33    5.5 MiB    5.7 MiB
#   memopt monitor          1   6.73    4.2 MiB    4.3 MiB
#   memopt top              5   2.00    5.7 MiB    5.7 MiB
#   memopt monitor          5   1.93    4.4 MiB    4.4 MiB
# top's own memory over the engine's: ~1.3 MiB resident (ncurses and terminfo, mapped by
# memopt-top.so; libstdc++ is linked into it: shared, it cost 0.85 MiB more).
# Most of the CPU was the engine's full sample of 500 processes each second, which
# `monitor 1` pays as well. What each sample opened per process (strace): /proc/PID/cgroup
# for every process on the host (membership), /proc/PID/fd and /proc/PID/maps for every
# process on the host (the /dev/shm holders, looked for even with /dev/shm empty), statm, and
# stat + exe (the tree).
# Since then (7ef6892, 998653d, 2aabe52) the tree's parents and start times are kept while
# pidfds say the process and its parent live (exe is still examined each sample), the holders
# are looked for only when /dev/shm holds a file, the members come from cgroup.procs, and top
# shows the engine's groups instead of reading the tree itself. Same VM, same hour, load 1.5-4.7,
# DURATION=20, before (9b4c830) and after (2aabe52; 383dcae for the second interval-1 figure)
# run back to back:
#   command          interval   cpu% before   cpu% after   VmRSS after
#   memopt top              1          6.25    1.35, 1.30      6.3 MiB
#   memopt monitor          1          7.05    1.35, 1.25      5.1 MiB
#   memopt top              5          1.65         0.40       6.4 MiB
#   memopt monitor          5          1.95         0.40       5.1 MiB
# What is left per sample is statm (the process cache's change test: open, fstat, 2 reads,
# close for each of the 500) and a stat of each exe: the issue's "<= 1% of a core at interval 1"
# is not quite met on this VM (a syscall costs 5-10 us here).
# With the time to the limit, GROW/m (8 samples a process) and selection (4ab2dad), before
# the cuts above, same VM at load 7-8, DURATION=30 INTERVALS=1:
#   memopt top              1   6.10    6.7 MiB    6.7 MiB
#   memopt monitor          1   7.00    5.1 MiB    5.1 MiB
# top's CPU over monitor's is within this load's noise; 1.6 MiB more resident (the history,
# 500 processes x 8 samples and 60 s of observations, is ~0.35 MiB by estimate, not measured).
# Each process's statm kept open (one pread instead of open, fstat, two reads, close), its exe
# looked at again only when its figures moved, the quick readings' files kept open (7feb79a,
# b4ce6a1, e1a9bac, d4d5d47), against 8c13781, DURATION=30, back to back in the same quarter
# hour (load 2.8-3.4; the second run started at a load spike of 30: the bench's own 500
# processes starting), bench/results/top-2026-12-06.txt:
#   command          interval   cpu% before   cpu% after   VmRSS after
#   memopt top              1          1.87         0.93       6.4 MiB
#   memopt monitor          1          2.17         0.60       4.2 MiB
#   memopt top              5          0.67         0.40       6.1 MiB
#   memopt monitor          5          0.53         0.27       4.0 MiB
# An earlier pair at load 4.4-6 (DURATION=30): top 1 1.47 -> 0.73, monitor 1 1.33 -> 0.80.
# strace -c of monitor 1 over ~11 samples: open, close, stat, read and pread 37.8k -> 17.7k.
#
# Usage: bench/top_bench.sh [BUILD_DIR]   (default build)
# Env:   DURATION=60 WARMUP=3 PROCESSES=500 INTERVALS="1 5"
# Writes bench/results/top-<date>.txt (and prints it). Needs root, a memory cgroup and tmux.
set -euo pipefail
cd "$(dirname "$(realpath "$0")")/.."
build=$(realpath "${1:-build}")
memopt=$build/memopt
[[ -x $memopt && -f $build/memopt-top.so ]] ||
  { echo "no $memopt or memopt-top.so: build them (cmake --build $build --target memopt memopt_top)" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "top_bench.sh needs root (it creates a memory cgroup)" >&2; exit 2; }
command -v tmux >/dev/null || { echo "top_bench.sh needs tmux (apt-get install tmux)" >&2; exit 2; }
duration=${DURATION:-60}
warmup=${WARMUP:-3}
processes=${PROCESSES:-500}
intervals=${INTERVALS:-1 5}

# The target: a memory cgroup (v1 memory hierarchy, or v2) holding PROCESSES sleeping processes.
if [[ -d /sys/fs/cgroup/memory ]]; then
  parent=/sys/fs/cgroup/memory
else
  parent=/sys/fs/cgroup
fi
cgroup=$parent/memopt-top-bench-$$
socket=memopt-top-bench-$$
errors=$(mktemp)
mkdir "$cgroup"
holder_pid=""
cleanup() {
  tmux -L "$socket" kill-server 2>/dev/null || true
  [[ -n $holder_pid ]] && kill -- "-$holder_pid" 2>/dev/null || true
  for _ in $(seq 50); do
    [[ -z $(cat "$cgroup/cgroup.procs" 2>/dev/null) ]] && break
    sleep 0.1
  done
  rmdir "$cgroup" 2>/dev/null || true
  rm -f "$errors"
}
trap cleanup EXIT
if [[ -f $cgroup/memory.limit_in_bytes ]]; then
  echo $((4 << 30)) >"$cgroup/memory.limit_in_bytes"
else
  echo $((4 << 30)) >"$cgroup/memory.max"
fi
setsid bash -c "echo \$\$ > $cgroup/cgroup.procs; for i in \$(seq $processes); do sleep 100000 & done; wait" &
holder_pid=$!
for _ in $(seq 100); do
  (($(wc -l <"$cgroup/cgroup.procs") > processes)) && break
  sleep 0.1
done

ticks=$(getconf CLK_TCK)
# CPU seconds (user + system) of PID from /proc/PID/stat.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }

# measure NAME COMMAND...: runs it in a tmux pane (exec: the pane's pid is memopt's).
measure() {
  local name=$1 interval=$2
  shift 2
  # top draws on the pane; monitor's lines go to /dev/null. A command that ends early is said.
  local output=""
  [[ $name == *monitor* ]] && output=">/dev/null"
  tmux -L "$socket" -f /dev/null new-session -d -s bench -x 120 -y 40 \
    "exec env MEMOPT_NVML_LIBRARY=/nonexistent $* $output 2>>$errors"
  local pid
  pid=$(tmux -L "$socket" list-panes -t bench -F '#{pane_pid}')
  sleep "$warmup"
  [[ -d /proc/$pid ]] || { echo "$name ended at once:" >&2; cat "$errors" >&2; exit 1; }
  local before after
  before=$(cpu_ticks "$pid")
  sleep "$duration"
  after=$(cpu_ticks "$pid")
  local rss hwm
  rss=$(status_kib "$pid" VmRSS)
  hwm=$(status_kib "$pid" VmHWM)
  tmux -L "$socket" kill-server 2>/dev/null || true
  sleep 0.5
  awk -v n="$name" -v i="$interval" -v d=$((after - before)) -v t="$ticks" -v s="$duration" \
    -v r="$rss" -v h="$hwm" \
    'BEGIN {printf "  %-16s %8d  %5.2f  %5.1f MiB  %5.1f MiB\n", n, i, d / t / s * 100, r / 1024, h / 1024}'
}

mkdir -p bench/results
out=bench/results/top-$(date -u +%Y-%m-%d).txt
{
  echo "command: DURATION=$duration PROCESSES=$processes bench/top_bench.sh ${1:-build}"
  echo "memopt: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (modified)')"
  echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); target $cgroup with $(wc -l <"$cgroup/cgroup.procs") processes"
  echo "  command          interval   cpu%   VmRSS      VmHWM"
  for interval in $intervals; do
    measure "memopt top" "$interval" "$memopt" --cgroup "$cgroup" top "$interval"
    measure "memopt monitor" "$interval" "$memopt" --cgroup "$cgroup" monitor "$interval"
  done
} | tee "$out"
echo "written to $out" >&2
