#!/usr/bin/env bash
# Builds memopt with its tests and runs them all (unit, fixture goldens, real-kernel integration).
# Usage: scripts/test.sh            the normal build (build/)
#        scripts/test.sh --asan     the same suite under ASan+UBSan (build-asan/), no recovery
set -euo pipefail
cd "$(dirname "$0")/.."
# What the tests need beyond the binary's build (GoogleTest, pybind11, torch, ...).
scripts/setup.sh --all --no-build

build_dir=build
extra=(-DMEMOPT_BUILD_TESTS=ON -DMEMOPT_BUILD_BENCH=ON -DMEMOPT_BUILD_PYTHON=ON)
ctest_args=()
if [[ ${1:-} == --asan ]]; then
  build_dir=build-asan
  extra=(-DMEMOPT_SANITIZE=ON -DMEMOPT_BUILD_TESTS=ON -DMEMOPT_BUILD_BENCH=OFF -DMEMOPT_BUILD_PYTHON=OFF
    -DCMAKE_BUILD_TYPE=Debug)
  # The real-kernel integration tests put memopt inside cgroups with budgets of a few MiB
  # and measure glibc's heap; ASan's shadow memory (~80 MiB charged) and its own malloc
  # would make them measure ASan. They run unsanitized; everything else runs here.
  ctest_args=(-LE integration)
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi

if command -v ccache >/dev/null 2>&1; then
  extra+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${extra[@]}" >/dev/null
cmake --build "$build_dir"
ctest --test-dir "$build_dir" --output-on-failure -j2 "${ctest_args[@]}"
