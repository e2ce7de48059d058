#!/usr/bin/env bash
# The man page (built by the memopt_man target) has a section per command with its options, and
# the exit codes, levels, environment variables and files: not only the top-level help.
# Usage: tests/man_page_test.sh MEMOPT_BINARY MAN_PAGE_GZ       (run by ctest)
set -euo pipefail
memopt=$1
page=$(gzip -dc "$2" | MANWIDTH=200 man -l - 2>/dev/null || gzip -dc "$2")
failures=0
need() { grep -qF -- "$1" <<<"$page" || { echo "not in the man page: $1"; failures=1; }; }
mapfile -t commands < <("$memopt" --help | sed -n '/^SUBCOMMANDS:\|^Subcommands:/,/^$/p' |
  sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p; s/^  \([a-z][a-z-]*\)$/\1/p')
((${#commands[@]} >= 6)) || { echo "found only ${#commands[@]} commands in memopt --help"; exit 1; }
for command in "${commands[@]}"; do
  need "memopt $command"
  for option in $("$memopt" "$command" --help |
    sed -n 's/^ *\(-[a-zA-Z],\)\{0,1\}\(--[a-z][a-z-]*\).*/\2/p' | sort -u); do
    need "$option"
  done
done
for text in "EXIT STATUS" "LEVELS" "ENVIRONMENT" "FILES" "MEMOPT_STATE_DIR" "MEMOPT_NVML_LIBRARY" \
  "MEMOPT_RUNTIME_DIR" "/var/lib/memopt/history.db" "/run/memopt" "danger" "acceptable" \
  "monitoring plugin"; do
  need "$text"
done
((failures == 0)) && echo "the man page covers ${#commands[@]} commands and their options"
exit "$failures"
