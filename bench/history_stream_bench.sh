#!/usr/bin/env bash
# Reading a long history (issue 31, item 4): `memopt history --format json` and `memopt recommend
# --from-history` over DAYS of 1 s observations and a 10 s full sample of 10 processes and a GPU
# (bench/history_week_db.py), wall time and peak RSS (/usr/bin/time %M), for each binary given.
#
# Usage: bench/history_stream_bench.sh [MEMOPT...]   (default build/memopt)
# Env:   DAYS=7
#
# Measured 2026-12-05 on the shared 2-core build machine (load 5-10, so wall times vary by 2-5x
# between runs), DAYS=7 (604,800 observations, 60,480 samples, 604,800 process rows, 77 MiB):
#   | command                  | before (c9c21eb)                  | after               |
#   |--------------------------|-----------------------------------|---------------------|
#   | history --format json    | 29-140 s, 1,684-1,879 MiB         | 17.9-18.6 s, 7 MiB  |
#   | recommend --from-history | 5.2-25.5 s, 166-184 MiB           | 1.4-1.7 s, 7 MiB    |
# (the lower "before" figures from tests/hostile/history_stream_test.cpp run against the old
# binary, minutes after the "after" run). The JSON (337 MB) and the recommendation are
# byte-for-byte the same from both.
set -euo pipefail
cd "$(dirname "$(realpath "$0")")/.."
DAYS=${DAYS:-7}
binaries=("$@")
[[ ${#binaries[@]} -eq 0 ]] && binaries=(build/memopt)
export MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"${binaries[0]}" monitor 1 --duration 0.1 --record="$work/history.db" >/dev/null 2>&1
/usr/bin/python3 bench/history_week_db.py "$work/history.db" "$DAYS" 10 10
echo "| binary | command | wall s | peak RSS KiB | output bytes |"
echo "|---|---|---|---|---|"
for memopt in "${binaries[@]}"; do
  for cmd in "history --since 2026-10-01T00:00:00Z --until 2026-11-09T00:00:00Z --format json --db" \
             "recommend --json --from-history"; do
    # shellcheck disable=SC2086
    /usr/bin/time -f "%e %M" -o "$work/time" "$memopt" $cmd "$work/history.db" > "$work/out" || true
    read -r wall rss < <(tail -n 1 "$work/time")
    echo "| $memopt | ${cmd%% *} | $wall | $rss | $(stat -c %s "$work/out") |"
  done
done
