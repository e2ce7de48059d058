#!/usr/bin/env bash
# Cleanup comparison (issue 6, Performance). On the retained-heap workload (memopt_test_retainer:
# MIB MiB of small blocks malloc'd and touched, all but the top few freed), how much of the
# freed heap comes back to the kernel with
#   nothing        the seed's gc.collect(): frees nothing native (we just wait)
#   trim-env       MALLOC_TRIM_THRESHOLD_=10000 set at start (glibc trims only the heap top)
#   memopt         the process called serve_cleanup(); `memopt cleanup` asks it from outside
# and how long `memopt cleanup` takes with N cooperating processes. Prints a markdown table.
#
# Usage: bench/cleanup_bench.sh [BUILD_DIR]   (default build-cl)
# Env:   MIB=256 N=10 N_MIB=32 RUNS=5 RETAINER=PATH (default BUILD_DIR/tests/memopt_test_retainer)
set -euo pipefail
cd "$(dirname "$(realpath "$0")")/.."
build=$(realpath "${1:-build-cl}")
memopt=$build/memopt
retainer=${RETAINER:-$build/tests/memopt_test_retainer}
MIB=${MIB:-256} N=${N:-10} N_MIB=${N_MIB:-32} RUNS=${RUNS:-5}
work=$(mktemp -d)
export MEMOPT_RUNTIME_DIR=$work/run MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1
mkdir -m 0700 "$MEMOPT_RUNTIME_DIR"
pids=()
cleanup() {
  for fd in "${fds[@]:-}"; do [[ -n $fd ]] && exec {fd}>&- || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
fds=()
trap cleanup EXIT

kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }

# start NAME MIB MODE [ENV...]: starts a retainer whose stdin is a fifo held open by this shell
# (not in a subshell: its end would close the fifo) and sets $started to its pid.
start() {
  local name=$1 mib=$2 mode=$3; shift 3
  mkfifo "$work/$name.in"
  env "$@" "$retainer" "$mib" "$mode" < "$work/$name.in" > "$work/$name.out" &
  local pid=$! fd
  exec {fd}>"$work/$name.in"
  fds+=("$fd")
  until grep -q ready "$work/$name.out" 2>/dev/null; do sleep 0.05; done
  started=$pid
}

row() {  # row LABEL PID ACTION...
  local label=$1 pid=$2; shift 2
  local freed hwm before after
  freed=$(awk '{print $2}' "$work/$label.out")
  before=$(kib "$pid" VmRSS)
  "$@"
  after=$(kib "$pid" VmRSS)
  hwm=$(kib "$pid" VmHWM)
  printf '| %s | %d | %d | %d | %d | %.0f%% |\n' "$label" $((hwm / 1024)) $((freed / 1048576)) \
    $((before / 1024)) $((after / 1024)) "$(echo "($hwm - $after) * 1024 * 100 / $freed" | bc -l)"
}

echo "## Retained heap: ${MIB} MiB allocated, all but the top 4 blocks freed"
echo
echo "| approach | peak RSS MiB | freed (retained) MiB | RSS before MiB | RSS after MiB | freed heap returned |"
echo "|---|---|---|---|---|---|"
start nothing "$MIB" keep && row nothing "$started" sleep 2
start trim-env "$MIB" keep MALLOC_TRIM_THRESHOLD_=10000 && row trim-env "$started" sleep 2
quiet() { "$@" >/dev/null; }
start memopt "$MIB" serve && row memopt "$started" quiet "$memopt" cleanup --json
echo

echo "## \`memopt cleanup\` with $N cooperating processes (${N_MIB} MiB retained each)"
for i in $(seq "$N"); do start "coop$i" "$N_MIB" serve; done
times=()
for run in $(seq "$RUNS"); do
  t0=$(date +%s%N)
  "$memopt" cleanup --json > "$work/coop.json"
  t1=$(date +%s%N)
  times+=($(( (t1 - t0) / 1000000 )))
done
echo
echo "wall ms per run (first run frees the heaps, later runs find nothing to free): ${times[*]}"
echo "cooperating processes answering (last run; the retained-heap row's process included):" \
  "$(python3 -c "import json;d=json.load(open('$work/coop.json'));p=d['processes'];print(sum(x['status']=='done' for x in p), 'of', len(p))")"
