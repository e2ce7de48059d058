#!/usr/bin/env bash
# Sizing from recorded history (issue 14): a model-server stand-in (memopt_test_holder: LOAD_MIB
# for LOAD_S seconds, "the model load", then HOLD_MIB, "serving", for DURATION_S in all) runs in
# its own memory cgroup while `memopt monitor 5 --record` watches that cgroup. Then:
#   - `recommend --from-history` on that database: the recommendation, VPA's steady-state target
#     and the load spike;
#   - `memopt run` of the same workload (shortened to LOAD_S + 10 s) and its recommendation;
#   - the shortened workload run RUNS times under each figure (history, VPA steady target alone,
#     `run`'s, the seed's table for --model vad): how many runs were OOM-killed.
#
# Usage: bench/history_sizing_bench.sh [BUILD_DIR]   (default build; as root, cgroup v1 or v2)
# Env:   DURATION_S=660 (at least 600: less history gets no figure) LOAD_MIB=600 LOAD_S=20
#        HOLD_MIB=250 LIMIT_MIB=1024 RUNS=2 HOLDER=PATH (default BUILD_DIR/tests/memopt_test_holder)
# The recorded cgroup gets LIMIT_MIB as its limit: the monitor watches the effective memory, and
# a cgroup without a limit is bounded by the host, so the host's memory would be recorded.
set -euo pipefail
cd "$(dirname "$(realpath "$0")")/.."
build=$(realpath "${1:-build}")
memopt=$build/memopt
holder=${HOLDER:-$build/tests/memopt_test_holder}
DURATION_S=${DURATION_S:-660} LOAD_MIB=${LOAD_MIB:-600} LOAD_S=${LOAD_S:-20}
HOLD_MIB=${HOLD_MIB:-250} LIMIT_MIB=${LIMIT_MIB:-1024} RUNS=${RUNS:-2}
export MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1
work=$(mktemp -d)
name=memopt-history-bench-$$
if [[ -d /sys/fs/cgroup/memory ]]; then
  dir=/sys/fs/cgroup/memory/$name
else
  dir=/sys/fs/cgroup/$name
fi
monitor_pid=""
cleanup() {
  [[ -n $monitor_pid ]] && kill -TERM "$monitor_pid" 2>/dev/null || true
  [[ -d $dir ]] && rmdir "$dir" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$dir"
if [[ -f $dir/memory.limit_in_bytes ]]; then
  echo $(( LIMIT_MIB * 1048576 )) > "$dir/memory.limit_in_bytes"
else
  echo $(( LIMIT_MIB * 1048576 )) > "$dir/memory.max"
fi

field() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
mib() { echo $(( $1 / 1048576 )); }
short=("$holder" "$HOLD_MIB" $(( (LOAD_S + 10) * 1000 )) "$LOAD_MIB" 0 $(( LOAD_S * 1000 )))

"$memopt" monitor 5 --record="$work/history.db" --cgroup "/$name" >/dev/null 2>"$work/monitor.err" &
monitor_pid=$!
sleep 3
sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$dir" \
  "$holder" "$HOLD_MIB" $(( DURATION_S * 1000 )) "$LOAD_MIB" 0 $(( LOAD_S * 1000 ))
sleep 3
kill -TERM "$monitor_pid"
wait "$monitor_pid" || true
monitor_pid=""

"$memopt" recommend --from-history "$work/history.db" --json > "$work/history.json"
history_bytes=$(field "$work/history.json" 'd["recommended_bytes"]')
steady_bytes=$(field "$work/history.json" 'd["steady"]["target_bytes"]')
load_bytes=$(field "$work/history.json" 'd["load"]["recommended_bytes"]')
"$memopt" run --json --output "$work/run.json" -- "${short[@]}" >/dev/null 2>&1
run_bytes=$(field "$work/run.json" 'd["recommendation"]["memory_bytes"]')
run_peak=$(field "$work/run.json" 'd["peak_bytes"]')
table_bytes=$(( 3 * 1024 * 1048576 ))  # recommend --model vad: 3 GiB

oom_runs() {
  local killed=0
  for _ in $(seq "$RUNS"); do
    "$memopt" run --limit "$(mib "$1")m" --json --output "$work/under.json" -- "${short[@]}" \
      >/dev/null 2>&1 || true
    [[ $(field "$work/under.json" 'd["oom_killed"]') == True ]] && killed=$((killed + 1))
  done
  echo "$killed/$RUNS"
}

echo "workload: ${LOAD_MIB} MiB for ${LOAD_S} s, then ${HOLD_MIB} MiB; recorded ${DURATION_S} s"
echo "history: load spike $(mib "$load_bytes") MiB (+15%), steady VPA target $(mib "$steady_bytes") MiB;" \
  "run's kernel peak $(mib "$run_peak") MiB"
echo
echo "| figure | limit | OOM-killed runs under it |"
echo "|---|---|---|"
echo "| recommend --from-history | $(mib "$history_bytes") MiB | $(oom_runs "$history_bytes") |"
echo "| VPA steady target alone | $(mib "$steady_bytes") MiB | $(oom_runs "$steady_bytes") |"
echo "| memopt run (one run) | $(mib "$run_bytes") MiB | $(oom_runs "$run_bytes") |"
echo "| seed table (vad) | $(mib "$table_bytes") MiB | $(oom_runs "$table_bytes") |"
