#!/bin/bash
# Issue 27's full-size acceptance run for workers_copy (root, cgroup v1 memory controller or v2
# with memory delegated; Debian's python3-torch). Too slow for CI (torch imports, 300k dicts,
# three runs): run by hand from the repository root after building memopt:
#   tests/manual/workers_copy_acceptance.sh [build/memopt]
# 1. Without a limit: the end state (the cgroup's peak) of a DataLoader over 300k dicts,
#    num_workers=4, persistent workers, two epochs.
# 2. With a limit that holds the parent and one copy, not four: memopt monitor's workers_copy
#    (projection, max_workers, when) against the kernel's kill.
# 3. Again with the num_workers memopt computed: the job must finish.
set -euo pipefail
memopt=${1:-build/memopt}
script=tests/integration/dataloader_copy.py
items=${ITEMS:-300000}
name=memopt-workers-accept-$$
if [ -d /sys/fs/cgroup/memory ]; then
  cg=/sys/fs/cgroup/memory/$name; limit_file=memory.limit_in_bytes; peak_file=memory.max_usage_in_bytes
  usage_file=memory.usage_in_bytes
else
  cg=/sys/fs/cgroup/$name; limit_file=memory.max; peak_file=memory.peak; usage_file=memory.current
fi
work=$(mktemp -d)
cleanup() {
  [ -f "$cg/cgroup.procs" ] && for p in $(cat "$cg/cgroup.procs"); do kill -9 "$p" 2>/dev/null || true; done
  sleep 0.5; rmdir "$cg" 2>/dev/null || true; rm -rf "$work"
}
trap cleanup EXIT
mkdir "$cg"

run_job() {  # workers limit(or "") out
  local workers=$1 limit=$2 out=$3
  echo max > "$cg/$limit_file" 2>/dev/null || echo -1 > "$cg/$limit_file"
  [ -f "$cg/memory.max_usage_in_bytes" ] && echo 0 > "$cg/memory.max_usage_in_bytes"
  rm -f "$work/go"
  sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$cg" /usr/bin/python3 "$script" \
    --items "$items" --workers "$workers" --epochs 2 --sleep 0.002 --go "$work/go" > "$out" 2>&1 &
  job=$!
  until grep -q '"ready"' "$out" 2>/dev/null; do sleep 0.2; kill -0 $job 2>/dev/null || break; done
  if [ -n "$limit" ]; then echo "$limit" > "$cg/$limit_file"; fi
}

echo "== 1. no limit: the end state"
run_job 4 "" "$work/free.out"
base=$(cat "$cg/$usage_file")
touch "$work/go"; wait "$job" || true
peak=$(cat "$cg/$peak_file")
grep '"ready"' "$work/free.out"
echo "usage at ready: $base  peak (end state): $peak"

echo "== 2. limited: usage at ready + 2.5 x the infos"
infos=$(python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if "ready" in l][0]["infos_bytes"])' "$work/free.out")
run_job 4 "" "$work/limited.out"
ready=$(cat "$cg/$usage_file")
limit=$(( ready + infos * 5 / 2 ))
echo "$limit" > "$cg/$limit_file"
"$memopt" monitor 1 --json --cgroup "$cg" > "$work/monitor.out" 2>&1 &
mon=$!
sleep 2; start=$(date +%s.%N); touch "$work/go"
rc=0; wait "$job" || rc=$?
sleep 2; kill $mon; wait $mon || true
python3 - "$work/monitor.out" "$peak" "$limit" "$start" <<'PY'
import json, sys, datetime
events = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{") and '"event"' in l]
peak, limit, start = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
def t(e): return datetime.datetime.strptime(e["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
wc = [e for e in events if e["event"] == "workers_copy"]
oom = [e for e in events if e["event"] == "oom_kill"]
print("limit", limit)
if wc:
    e = wc[0]
    print("workers_copy at +%.0f s: projected %d (end state %d: %+.1f%%), max_workers %s, seconds_to_limit %s"
          % (t(e) - start, e["projected_bytes"], peak, 100.0 * (e["projected_bytes"] - peak) / peak,
             e.get("max_workers"), e.get("seconds_to_limit")))
    print(e["message"])
    open(sys.argv[1] + ".max_workers", "w").write(str(e.get("max_workers", 1)))
else:
    print("NO workers_copy")
print("oom_kill at +%.0f s" % (t(oom[0]) - start) if oom else "no oom_kill")
if wc and oom: print("lead: %.0f s" % (t(oom[0]) - t(wc[0])))
PY
echo "job exit: $rc"

echo "== 3. the computed num_workers under the same limit"
n=$(cat "$work/monitor.out.max_workers" 2>/dev/null || echo 1)
run_job "$n" "" "$work/fixed.out"
echo "$limit" > "$cg/$limit_file"
touch "$work/go"
if wait "$job" && grep -q '"done"' "$work/fixed.out"; then
  echo "num_workers=$n: finished (peak $(cat "$cg/$peak_file") of limit $limit)"
else
  echo "num_workers=$n: FAILED"; tail -5 "$work/fixed.out"; exit 1
fi
