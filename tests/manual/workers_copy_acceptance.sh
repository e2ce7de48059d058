#!/bin/bash
# Issue 27's full-size acceptance run for workers_copy (root, cgroup v1 memory controller or v2
# with memory delegated; Debian's python3-torch). Too slow for CI (torch imports, 300k dicts,
# four runs): run by hand from the repository root after building memopt:
#   tests/manual/workers_copy_acceptance.sh [build/memopt]
# 1. Without a limit: the end state (the cgroup's peak working set, sampled every 0.2 s) of a
#    DataLoader over 300k dicts, num_workers=4, persistent workers, two epochs.
# 2. With a limit that holds the parent and about 2.5 copies, not four: memopt monitor's
#    workers_copy events (the first, and its updates: projection, max_workers, when) against
#    the kernel's kill.
# 3. Again with the num_workers memopt computed (the last workers_copy before the kill): the
#    job must finish.
# 4. The same job with the infos as one numpy buffer (mmengine's serialize_data) under the same
#    limit: no workers_copy, and it finishes.
#
# Measured 2026-12-06 on the 2-core dev VM (cgroup v1, Debian python3-torch 1.13, other builds
# running; 7 min for the four runs), ITEMS=300000:
#   1. infos 268 MiB in the parent (anonymous 381 MiB at ready), working set at ready 384 MiB;
#      end state without a limit 1.26 GiB (each worker ~227 MiB private after two epochs), 98 s.
#   2. limit 1.03 GiB (ready + 2.5 x infos): workers_copy at +7 s (projected 2.02 GiB, +60% of
#      the end state; max_workers 1; "reached in ~28 s"); the update at +30 s (fitted 338 MiB
#      a worker: projected 1.73 GiB, +37%; max_workers 1); the kernel's kill at +38 s: the first
#      event came 31 s before the kill. The projection is high: the parent's anonymous memory
#      holds ~113 MiB of interpreter/torch heap that workers never read, and two epochs are not
#      the end of a long training's copy (each epoch copies more of the infos).
#   3. num_workers=1 under the same limit: finished, no workers_copy.
#   4. numpy infos, num_workers=4, the same limit: finished, no workers_copy.
set -euo pipefail
memopt=${1:-build/memopt}
script=tests/integration/dataloader_copy.py
items=${ITEMS:-300000}
end_epochs=${END_EPOCHS:-2}  # the end state: later epochs copy almost nothing more (see above)
step=${SLEEP:-0.002}  # seconds the training loop spends per batch (a real step: 0.1-1 s)
name=memopt-workers-accept-$$
if [ -d /sys/fs/cgroup/memory ]; then
  cg=/sys/fs/cgroup/memory/$name; limit_file=memory.limit_in_bytes; usage_file=memory.usage_in_bytes
  inactive_key=total_inactive_file
else
  cg=/sys/fs/cgroup/$name; limit_file=memory.max; usage_file=memory.current
  inactive_key=inactive_file
fi
work=$(mktemp -d)
sampler=
cleanup() {
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true
  [ -f "$cg/cgroup.procs" ] && for p in $(cat "$cg/cgroup.procs"); do kill -9 "$p" 2>/dev/null || true; done
  sleep 0.5; rmdir "$cg" 2>/dev/null || true; rm -rf "$work"
}
trap cleanup EXIT
mkdir "$cg"

# The working set as memopt counts it: usage minus inactive file pages.
working_set() {
  local usage inactive
  usage=$(cat "$cg/$usage_file")
  inactive=$(awk -v k="$inactive_key" '$1 == k {print $2}' "$cg/memory.stat")
  echo $(( usage - ${inactive:-0} ))
}
# Samples the working set every 0.2 s into $1 (the largest seen) until killed.
sample_peak() {
  local peak=0 now
  while true; do
    now=$(working_set); [ "$now" -gt "$peak" ] && peak=$now && echo "$peak" > "$1"
    sleep 0.2
  done
}

run_job() {  # workers out epochs [extra args]
  local workers=$1 out=$2 epochs=$3; shift 3
  echo max > "$cg/$limit_file" 2>/dev/null || echo -1 > "$cg/$limit_file"
  rm -f "$work/go"
  sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$cg" /usr/bin/python3 "$script" \
    --items "$items" --workers "$workers" --epochs "$epochs" --sleep "$step" --go "$work/go" "$@" > "$out" 2>&1 &
  job=$!
  until grep -q '"ready"' "$out" 2>/dev/null; do sleep 0.2; kill -0 $job 2>/dev/null || break; done
}

echo "== 1. no limit: the end state"
run_job 4 "$work/free.out" "$end_epochs"
ready=$(working_set)
sample_peak "$work/peak" & sampler=$!
t0=$(date +%s.%N); touch "$work/go"; wait "$job" || true
t1=$(date +%s.%N)
kill "$sampler"; sampler=
peak=$(cat "$work/peak")
grep '"ready"' "$work/free.out"
echo "working set at ready: $ready  end state (peak working set): $peak  run: $(echo "$t1 - $t0" | bc) s"

monitored() {  # workers out monitor_out [extra args]: the job under $limit with memopt monitor
  local workers=$1 out=$2 mon_out=$3; shift 3
  run_job "$workers" "$out" 2 "$@"
  echo "$limit" > "$cg/$limit_file"
  "$memopt" monitor 1 --json --cgroup "$cg" > "$mon_out" 2>&1 &
  mon=$!
  sleep 2; start=$(date +%s.%N); touch "$work/go"
  rc=0; wait "$job" || rc=$?
  sleep 2; kill $mon 2>/dev/null || true; wait $mon || true
}

echo "== 2. limited: working set at ready + 2.5 x the infos"
infos=$(python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if "ready" in l][0]["infos_bytes"])' "$work/free.out")
limit=$(( ready + infos * 5 / 2 ))
monitored 4 "$work/limited.out" "$work/monitor.out"
python3 - "$work/monitor.out" "$peak" "$limit" "$start" <<'PY'
import json, sys, datetime
events = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{") and '"event"' in l]
peak, limit, start = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
def t(e): return datetime.datetime.strptime(e["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
wc = [e for e in events if e["event"] == "workers_copy"]
oom = [e for e in events if e["event"] == "oom_kill"]
print("limit", limit)
for e in wc:
    print("workers_copy%s at +%.0f s: projected %d (end state %d: %+.1f%%), converged %s, max_workers %s, seconds_to_limit %s"
          % (" (update)" if e.get("update") else "", t(e) - start, e["projected_bytes"], peak,
             100.0 * (e["projected_bytes"] - peak) / peak, e.get("converged_private_bytes"),
             e.get("max_workers"), e.get("seconds_to_limit")))
    print("  ", e["message"])
before = [e for e in wc if not oom or t(e) <= t(oom[0])]
if before:
    open(sys.argv[1] + ".max_workers", "w").write(str(before[-1].get("max_workers", 1)))
else:
    print("NO workers_copy before the kill")
print("oom_kill at +%.0f s" % (t(oom[0]) - start) if oom else "no oom_kill")
if wc and oom: print("lead: %.0f s" % (t(oom[0]) - t(wc[0])))
PY
echo "job exit: $rc"

echo "== 3. the computed num_workers under the same limit"
n=$(cat "$work/monitor.out.max_workers" 2>/dev/null || echo 1)
monitored "$n" "$work/fixed.out" "$work/monitor3.out"
if [ "$rc" = 0 ] && grep -q '"done"' "$work/fixed.out"; then
  echo "num_workers=$n: finished; workers_copy events: $(grep -c '"workers_copy"' "$work/monitor3.out" || true)"
else
  echo "num_workers=$n: FAILED (exit $rc)"; tail -5 "$work/fixed.out"
fi

echo "== 4. the infos as numpy (serialize_data), num_workers=4, the same limit"
monitored 4 "$work/numpy.out" "$work/monitor4.out" --numpy
events=$(grep -c '"workers_copy"' "$work/monitor4.out" || true)
if [ "$rc" = 0 ] && grep -q '"done"' "$work/numpy.out" && [ "$events" = 0 ]; then
  echo "numpy: finished, no workers_copy"
else
  echo "numpy: exit $rc, workers_copy events: $events"; tail -5 "$work/numpy.out"; exit 1
fi
