#!/usr/bin/env bash
# Installs memopt's dependencies from Debian's archive (and the page's chart library from the npm
# registry), then builds the memopt binary and its HTTP and terminal modules only: the first report
# comes minutes after a fresh clone, not after the 180 targets of the test suite.
# Usage (as root on Debian 12): scripts/setup.sh [--python] [--deb] [--all] [--no-build] [BUILD_DIR]
#   --python    also what `pip install --no-build-isolation .` needs (pybind11, scikit-build)
#   --deb       also what the .deb needs (docs/install.md: the Python module, help2man, dpkg-dev)
#   --all       also what the tests, benchmarks, fuzzers, the wheel and the .deb need
#               (scripts/test.sh, test-install.sh and fuzz.sh run this themselves)
#   --no-build  install only
#   BUILD_DIR   default: build
set -euo pipefail
cd "$(dirname "$0")/.."

all=0
python=0
deb=0
build=1
build_dir=build
for arg in "$@"; do
  case $arg in
    --all) all=1 python=1 deb=1 ;;
    --python) python=1 ;;
    --deb) python=1 deb=1 ;;
    --no-build) build=0 ;;
    -*) echo "setup: unknown option '$arg' (use --python, --deb, --all, --no-build)" >&2; exit 2 ;;
    *) build_dir=$arg ;;
  esac
done

# What building and running the binary needs.
packages=(
  build-essential cmake ninja-build pkg-config git
  libfmt-dev libcli11-dev nlohmann-json3-dev libmicrohttpd-dev libtomlplusplus-dev libsqlite3-dev
  libncurses-dev                                             # memopt-top.so (`memopt top`)
)
if ((python)); then
  packages+=(python3-dev pybind11-dev python3-skbuild python3-venv)
fi
if ((deb)); then
  packages+=(help2man dpkg-dev file)
fi
if ((all)); then
  packages+=(
    libgtest-dev libgmock-dev libbenchmark-dev                 # the C++ tests and benchmarks
    clang libclang-rt-14-dev clang-format                      # fuzzers, formatting
    python3-pytest python3-torch python3-build python3-mypy    # Python tests, the wheel
    python3 python3-psutil time hyperfine procps util-linux    # tests and bench/ comparisons
    chromium fonts-dejavu-core prometheus earlyoom             # page tests, promtool, a peer
    ccache valgrind                                            # build cache, heap checks
    tmux                                                       # `memopt top` in a terminal
  )
fi
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

((build)) || exit 0
# ccache where it is installed (--all installs it): rebuilds after a pull or a second clone.
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
# Tests, benchmarks and the Python module are scripts/test.sh's to configure and build (their
# packages may not be here); an existing build directory keeps what it has built.
dev=OFF
((all)) && dev=ON
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" \
  -DMEMOPT_BUILD_TESTS=$dev -DMEMOPT_BUILD_BENCH=$dev -DMEMOPT_BUILD_PYTHON=$dev >/dev/null
cmake --build "$build_dir" --target memopt memopt_http memopt_top
