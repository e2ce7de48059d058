#!/usr/bin/env bash
# The bash completion offers every subcommand of `memopt --help` and every option of each
# `memopt SUBCOMMAND --help`: a command or flag added without completion fails here.
# Usage: tests/completion_test.sh MEMOPT_BINARY COMPLETION_FILE       (run by ctest)
set -euo pipefail
memopt=$1
# shellcheck source=/dev/null
source "$2"

complete_words() {  # the candidates for the last word of "$@"
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  _memopt
  printf '%s\n' "${COMPREPLY[@]}"
}

failures=0
# CLI11 lists subcommands under "SUBCOMMANDS:" (or "Subcommands:"), one per line.
mapfile -t commands < <("$memopt" --help | sed -n '/^SUBCOMMANDS:\|^Subcommands:/,/^$/p' |
  sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p; s/^  \([a-z][a-z-]*\)$/\1/p')
((${#commands[@]} >= 6)) || { echo "found only ${#commands[@]} subcommands in memopt --help"; exit 1; }
offered=$(complete_words memopt "")
for command in "${commands[@]}"; do
  grep -qx "$command" <<<"$offered" || { echo "not offered after 'memopt': $command"; failures=1; }
  offered_options=$(complete_words memopt "$command" --)
  # Option lines: "  --name ..." or "  -h,--help ..." (descriptions mention other programs' flags).
  for option in $("$memopt" "$command" --help |
    sed -n 's/^ *\(-[a-zA-Z],\)\{0,1\}\(--[a-z][a-z-]*\).*/\2/p' | sort -u); do
    grep -qx -- "$option" <<<"$offered_options" ||
      { echo "not offered after 'memopt $command': $option"; failures=1; }
  done
done
[[ $(complete_words memopt --model st) == streampetr ]] || { echo "--model values"; failures=1; }
[[ $(complete_words memopt report --format pro) == prometheus ]] || { echo "--format values"; failures=1; }
# --auto-cleanup's levels: one list in the help, the error for a bad one and the completion.
levels_in() { sed -n 's/.*one of: \([a-z, ]*\)).*/\1/p' | head -1 | tr -d ','; }
help_levels=$("$memopt" monitor --help | grep -- --auto-cleanup | levels_in)
error_levels=$("$memopt" monitor --auto-cleanup bogus --duration 1 2>&1 >/dev/null | levels_in || true)
offered_levels=$(complete_words memopt monitor --auto-cleanup "" | tr '\n' ' ' | sed 's/ $//')
[[ -n $help_levels && $help_levels == "$error_levels" && $help_levels == "$offered_levels" ]] ||
  { echo "--auto-cleanup levels differ: help '$help_levels', error '$error_levels', completion '$offered_levels'"; failures=1; }
((failures == 0)) && echo "completion covers ${#commands[@]} subcommands and their options"
exit "$failures"
