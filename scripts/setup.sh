#!/usr/bin/env bash
# Installs every build and test dependency from Debian's archive, then builds memopt.
# Usage (as root on Debian 12): scripts/setup.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config git
  libfmt-dev libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev clang-format
  python3 python3-psutil time hyperfine procps util-linux
  chromium fonts-dejavu-core
  libmicrohttpd-dev libtomlplusplus-dev libsqlite3-dev prometheus earlyoom
  pybind11-dev python3-dev python3-pytest python3-torch
  python3-skbuild python3-build python3-venv python3-mypy help2man dpkg-dev file ccache valgrind
)
# npm may come with a nodejs that is not Debian's (then Debian's npm would conflict with it).
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing packages (${missing[*]}); run as root or install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The chart library the binary embeds, from the npm registry, pinned by web/package-lock.json.
if [[ ! -f web/node_modules/uplot/dist/uPlot.iife.min.js ]]; then
  (cd web && npm ci --no-audit --no-fund --omit-lockfile-registry-resolved)
fi

build_dir=${1:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build_dir"
