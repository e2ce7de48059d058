#!/usr/bin/env bash
# Whole-command comparison for `memopt report` (issue 2, Performance): with IDLE idle processes
# present (default 500), hyperfine times
#   memopt report --json                      (PSS of every process)
#   bench/psutil_report.py                    (psutil: virtual_memory + memory_full_info of all)
#   ps aux --sort=-%mem | head -6
#   cat /proc/meminfo /proc/[0-9]*/smaps_rollup /proc/[0-9]*/statm    (the kernel floor)
# and GNU time measures the peak RSS of `memopt report --json`. Prints a markdown summary and
# keeps it, with hyperfine's JSON, in bench/results/ (git-ignored).
# Targets: memopt <= 1.3x floor, <= 0.5x psutil, peak RSS <= 4 MiB.
#
# By default the run happens in a fresh PID namespace (`unshare --pid --mount-proc`, needs root)
# so that /proc holds the idle processes and nothing else, as in a container: the cost of
# smaps_rollup grows with the resident pages of every process scanned, and on a shared machine
# other people's compilers would dominate all four commands. ISOLATE=0 measures the host as is.
#
# Usage: bench/compare_report.sh [MEMOPT_BINARY]   (default build/memopt)
# Env:   IDLE=500 RUNS=30 WARMUP=3 RSS_RUNS=5 PYTHON=/usr/bin/python3 ISOLATE=1
set -euo pipefail
self=$(realpath "$0")
memopt=$(realpath "${1:-$(dirname "$self")/../build/memopt}")
cd "$(dirname "$self")/.."

if [[ ${ISOLATE:-1} == 1 && -z ${MEMOPT_BENCH_ISOLATED:-} ]]; then
  if unshare --pid --fork --mount-proc true 2>/dev/null; then
    exec env MEMOPT_BENCH_ISOLATED=1 unshare --pid --fork --mount-proc "$self" "$memopt"
  fi
  echo "compare_report: cannot create a PID namespace; measuring every process of the host" >&2
fi
if [[ -n ${MEMOPT_BENCH_ISOLATED:-} ]]; then
  scope="a fresh PID namespace: /proc shows only the benchmark's processes"
else
  scope="the host's /proc: every process of the machine is scanned"
fi

idle=${IDLE:-500}
runs=${RUNS:-30}
warmup=${WARMUP:-3}
rss_runs=${RSS_RUNS:-5}
python=${PYTHON:-/usr/bin/python3}  # Debian's, with python3-psutil
results=bench/results
mkdir -p "$results"

for tool in hyperfine /usr/bin/time "$python"; do
  command -v "$tool" >/dev/null || { echo "compare_report: $tool is missing (scripts/setup.sh)" >&2; exit 1; }
done
[[ -x $memopt ]] || { echo "compare_report: no memopt binary at $memopt" >&2; exit 1; }
"$python" -c 'import psutil' 2>/dev/null ||
  { echo "compare_report: $python has no psutil (apt-get install python3-psutil)" >&2; exit 1; }

pids=()
cleanup() {
  ((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
for ((i = 0; i < idle; i++)); do
  sleep 3600 &
  pids+=($!)
done
processes=$(find /proc -maxdepth 1 -name '[0-9]*' | wc -l)

"$memopt" report --json >/dev/null  # fail early, with memopt's message, if it cannot report

memopt_cmd="$memopt report --json > /dev/null"
psutil_cmd="$python bench/psutil_report.py > /dev/null"
ps_cmd="ps aux --sort=-%mem | head -6 > /dev/null"
floor_cmd="cat /proc/meminfo /proc/[0-9]*/smaps_rollup /proc/[0-9]*/statm > /dev/null 2>&1; true"
json=$results/compare_report.json
hyperfine --style basic --warmup "$warmup" --runs "$runs" --export-json "$json" \
  -n memopt "$memopt_cmd" -n psutil "$psutil_cmd" -n ps "$ps_cmd" -n floor "$floor_cmd" >&2

rss=()
for ((i = 0; i < rss_runs; i++)); do
  rss+=("$(/usr/bin/time -f %M "$memopt" report --json 2>&1 >/dev/null | tail -n 1)")
done

summary=$results/compare_report.md
"$python" - "$json" "$idle" "$processes" "$memopt" "$(nproc)" "$scope" "${rss[@]}" <<'PY' | tee "$summary"
import json, sys

path, idle, processes, binary, cpus, scope = sys.argv[1:7]
rss_kib = [int(v) for v in sys.argv[7:]]
results = {r["command"]: r for r in json.load(open(path))["results"]}
median = {name: r["median"] * 1000 for name, r in results.items()}  # ms
ratio_floor = median["memopt"] / median["floor"]
ratio_psutil = median["memopt"] / median["psutil"]
peak_mib = max(rss_kib) / 1024

def verdict(ok):
    return "met" if ok else "**missed**"

print(f"## memopt report: whole-command comparison\n")
print(f"Scope: {scope}. {processes} processes visible ({idle} idle `sleep`s started for the "
      f"run), {cpus} CPUs; "
      f"binary `{binary}`; hyperfine medians over {len(results['memopt']['times'])} runs "
      f"(shell start-up subtracted). Load average at the end: {open('/proc/loadavg').read().split()[0]}.\n")
print("| command | median (ms) | mean ± σ (ms) | min (ms) | CPU user+sys, mean (ms) |")
print("|---|---:|---:|---:|---:|")
labels = {"memopt": "`memopt report --json`", "psutil": "`psutil_report.py` (psutil)",
          "ps": "`ps aux --sort=-%mem \\| head -6`", "floor": "kernel floor (`cat` of the files)"}
for name in ["memopt", "psutil", "ps", "floor"]:
    r = results[name]
    print(f"| {labels[name]} | {median[name]:.1f} | {r['mean']*1000:.1f} ± {r['stddev']*1000:.1f} "
          f"| {r['min']*1000:.1f} | {(r['user'] + r['system'])*1000:.1f} |")
print()
print("| target | measured | goal | |")
print("|---|---:|---:|---|")
print(f"| memopt / floor | {ratio_floor:.2f}x | <= 1.3x | {verdict(ratio_floor <= 1.3)} |")
print(f"| memopt / psutil | {ratio_psutil:.2f}x | <= 0.5x | {verdict(ratio_psutil <= 0.5)} |")
cpu = {name: r["user"] + r["system"] for name, r in results.items()}
print(f"| (CPU time, for a loaded machine) memopt / floor | {cpu['memopt'] / cpu['floor']:.2f}x | | |")
print(f"| (CPU time) memopt / psutil | {cpu['memopt'] / cpu['psutil']:.2f}x | | |")
print(f"| peak RSS of `memopt report --json` (GNU time %M, max of {len(rss_kib)}) | "
      f"{peak_mib:.2f} MiB ({max(rss_kib)} kB; runs: {', '.join(map(str, rss_kib))}) | <= 4 MiB | "
      f"{verdict(peak_mib <= 4)} |")
PY
