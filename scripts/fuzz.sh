#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) in build-fuzz and runs each for SECONDS
# (default 10) from the seeds in fuzz/corpus/<target>/. Fails when any target crashes; the
# crashing input is left in build-fuzz/artifacts/ and named in the output.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   e.g. scripts/fuzz.sh 60 parse_meminfo
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --all --no-build  # clang, scikit-build, help2man, ...

seconds=${1:-10}
shift || true
build_dir=${MEMOPT_FUZZ_BUILD_DIR:-build-fuzz}

if (($# > 0)); then
  targets=("$@")
else
  targets=()
  for source in fuzz/*_fuzz.cpp; do
    name=$(basename "$source" _fuzz.cpp)
    targets+=("$name")
  done
fi

CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMEMOPT_BUILD_FUZZ=ON -DMEMOPT_BUILD_TESTS=OFF -DMEMOPT_BUILD_BENCH=OFF >/dev/null
cmake --build "$build_dir" --target memopt_fuzz

mkdir -p "$build_dir/artifacts"
failed=()
for target in "${targets[@]}"; do
  # New inputs go to a scratch corpus in the build tree; the checked-in seeds stay as they are.
  work="$build_dir/corpus/$target"
  mkdir -p "$work"
  log="$build_dir/artifacts/$target.log"
  seeds=()
  [[ -d fuzz/corpus/$target ]] && seeds=("fuzz/corpus/$target")
  if "$build_dir/fuzz/${target}_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$build_dir/artifacts/$target-" \
      "$work" "${seeds[@]}" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz: $target ok (${runs:-?} runs in ${seconds}s)"
  else
    echo "fuzz: $target FAILED; log: $log" >&2
    tail -n 40 "$log" >&2
    failed+=("$target")
  fi
done

if ((${#failed[@]})); then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${seconds}s without a crash"
