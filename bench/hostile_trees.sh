#!/usr/bin/env bash
# What hostile --procfs trees cost `memopt report`: peak RSS, wall time and exit code with
# /proc/meminfo replaced by a link to /dev/zero, by a 1 GiB (sparse) file, and by a FIFO.
# Usage: bench/hostile_trees.sh [MEMOPT_BINARY]   (default build/memopt)
# The address space is capped at 3 GiB so that an unbounded read fails instead of taking the
# machine; a hang is cut after 30 s (SIGKILL: exit 137).
set -uo pipefail
cd "$(dirname "$0")/.."
memopt=${1:-build/memopt}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fixture=tests/fixtures/v2-nested-parent-limit

run_case() {
  local name=$1
  rm -rf "$tmp/t" && cp -r "$fixture" "$tmp/t"
  rm -f "$tmp/t/proc/meminfo"
  case $name in
    devzero) ln -s /dev/zero "$tmp/t/proc/meminfo" ;;
    1gib) truncate -s 1G "$tmp/t/proc/meminfo" ;;
    fifo) mkfifo "$tmp/t/proc/meminfo" ;;
  esac
  local start end rc rss
  start=$(date +%s.%N)
  MEMOPT_NVML_LIBRARY=/nonexistent /usr/bin/time -f '%M' -o "$tmp/rss" \
    timeout -s KILL 30 prlimit --as=$((3 << 30)) "$memopt" report --procfs "$tmp/t/proc" \
    --sysfs "$tmp/t/sys" >/dev/null 2>"$tmp/err"
  rc=$?
  end=$(date +%s.%N)
  rss=$(tail -1 "$tmp/rss" 2>/dev/null)
  printf '%-8s exit %-3s  peak RSS %8s KiB  %6.2f s  %s\n' "$name" "$rc" "${rss:-?}" \
    "$(echo "$end - $start" | bc)" "$(grep -v '^Command' "$tmp/err" | head -1 | cut -c1-110)"
}

for c in devzero 1gib fifo; do run_case "$c"; done
