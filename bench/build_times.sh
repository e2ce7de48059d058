#!/usr/bin/env bash
# How long a fresh clone takes to build, step by step, with ccache off (a new user's machine):
#   npm      web/ npm ci (the chart library the binary embeds; the network)
#   setup    the README's first command, `scripts/setup.sh && build/memopt report`, packages
#            already installed (only on revisions whose setup.sh builds the binary alone)
#   binary   configure and build memopt and memopt-http.so only, in a second clone
#   all      then every target (tests, benchmarks, the Python module), as scripts/test.sh does
#   pip      `pip install --no-build-isolation .` into a fresh venv (with --pip)
# Usage: bench/build_times.sh [--pip] [REVISION]     (default: HEAD; compare with an older one)
# Wall-clock seconds need an otherwise idle machine; CPU seconds (user + system) move less with
# other load (~1.2x beside a CI run).
#
# Measured 2026-12-05, 2 cores (wall / CPU seconds):
#              e21dd9a (before issue 32)            512f1b3
#   setup      all 180 targets first               105.0 / 198.0   (with the first report)
#   configure    3.1                                 1.5
#   binary     433.1 / 840.0                        95.0 / 183.5
#   all        909 / 1119 (beside CI, nice 19)     378.7 / 750.5
#   pip        464 (issue 32's figure)             130.6 / 248.9
# 2026-12-06, 88d36f6 (with memopt top's module), idle machine: setup with the first report
# 113.7 / 205.0; before that module (f8b950c) 97.7 / 184.0.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
pip=0
if [[ ${1:-} == --pip ]]; then pip=1; shift; fi
revision=${1:-HEAD}
work=$(mktemp -d /tmp/memopt-build-times.XXXXXX)
trap 'rm -rf "$work"' EXIT
export CCACHE_DISABLE=1
timed() {  # NAME COMMAND...: runs it quietly, prints NAME, wall-clock and CPU seconds
  local name=$1
  shift
  /usr/bin/time -f '%e %U %S' -o "$work/$name.time" "$@" >"$work/$name.log" 2>&1 ||
    { echo "$name failed:"; tail -20 "$work/$name.log"; exit 1; }
  read -r wall user sys <"$work/$name.time"
  awk -v n="$name" -v w="$wall" -v u="$user" -v s="$sys" \
    'BEGIN { printf "%-9s %6.1f s wall %7.1f s CPU\n", n, w, u + s }'
}

echo "memopt $(git -C "$repo" rev-parse --short "$revision"), $(nproc) cores, ccache off"
git clone -q "$repo" "$work/a"
git -C "$work/a" checkout -q "$revision"
timed npm bash -c "cd '$work/a/web' && npm ci --no-audit --no-fund --omit-lockfile-registry-resolved"
if grep -q -- '--all' "$work/a/scripts/setup.sh"; then
  timed setup bash -c "cd '$work/a' && scripts/setup.sh && build/memopt report"
fi

git clone -q "$repo" "$work/b"
git -C "$work/b" checkout -q "$revision"
ln -s "$work/a/web/node_modules" "$work/b/web/node_modules"
cd "$work/b"
timed configure cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMEMOPT_BUILD_TESTS=OFF -DMEMOPT_BUILD_BENCH=OFF -DMEMOPT_BUILD_PYTHON=OFF
timed binary cmake --build build --target memopt memopt_http
timed all bash -c "cmake -S . -B build -DMEMOPT_BUILD_TESTS=ON -DMEMOPT_BUILD_BENCH=ON \
  -DMEMOPT_BUILD_PYTHON=ON && cmake --build build"
if ((pip)); then
  /usr/bin/python3 -m venv --system-site-packages "$work/venv"
  timed pip "$work/venv/bin/pip" install --no-build-isolation --no-index "$work/a"
fi
