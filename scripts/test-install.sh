#!/usr/bin/env bash
# The ways users install memopt, each installed and used from the installed files:
#   1. the wheel (`python3 -m build --wheel --no-isolation`, scikit-build driving CMake) in a fresh
#      venv: the Python test suite against the installed package, the `memopt` on the venv's PATH;
#   2. the .deb (`cpack -G DEB`), with `apt-get install ./memopt_*.deb` on this machine (as root;
#      skipped with a message otherwise): the CLI, `import memopt` with Debian's python3, the man
#      page, completion, the deploy files; then `apt-get remove --purge` and nothing left.
# Needs the normal build (scripts/test.sh) for the fake NVML the Python tests load.
# Usage: scripts/test-install.sh [--wheel-only | --deb-only]       (run by .ci/run)
# Sizes and times are printed at the end. Offline: everything comes from Debian's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --all --no-build  # clang, scikit-build, help2man, ...
repo=$PWD
# ccache, where installed, for the two extra builds (the wheel's: setup.py adds the launcher
# itself; the .deb's: below).
# Both are Release builds of the same sources with the same flags, and the .deb's build directory
# is as deep as scikit-build's (_skbuild/<platform>/cmake-build), so that with CCACHE_BASEDIR the
# relative paths match too and the second build is mostly cache hits.
deb_build=build-deb/release/cmake-build
cmake_launcher=()
if command -v ccache >/dev/null 2>&1; then
  cmake_launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$repo}
fi
python=/usr/bin/python3  # Debian's, whose dist-packages hold torch, pytest and scikit-build
what=${1:-all}
work=$(mktemp -d /tmp/memopt-install.XXXXXX)
installed_deb=0
cleanup() {
  # A failed run does not leave the package installed.
  if ((installed_deb)); then
    DEBIAN_FRONTEND=noninteractive apt-get remove --purge -y -qq memopt >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
summary=()
fail() { echo "test-install: FAIL: $*" >&2; exit 1; }
step() { echo; echo "== test-install: $*"; }
seconds() { echo $(($(date +%s) - $1)); }

# The HTTP module loads and serves /healthz (503 until the first sample is in, then 200).
# `memopt top` finds its terminal module (memopt-top.so) where it was installed: tmux gives it a
# terminal, the frame must show, q must end it.
check_top() {
  local memopt=$1 socket="memopt-install-$$" frame=""
  tmux -L "$socket" -f /dev/null new-session -d -s top -x 100 -y 30 \
    "MEMOPT_NVML_LIBRARY=/nonexistent $memopt top 1 2>$work/top.err; sleep 2"
  for _ in $(seq 100); do
    frame=$(tmux -L "$socket" capture-pane -p -t top 2>/dev/null || true)
    [[ $frame == *PROCESSES* ]] && break
    sleep 0.1
  done
  tmux -L "$socket" send-keys -t top q 2>/dev/null || true
  sleep 0.5
  tmux -L "$socket" kill-server 2>/dev/null || true
  [[ $frame == *PROCESSES* ]] || { cat "$work/top.err" >&2; fail "$memopt: top showed no frame"; }
}

check_http() {
  local memopt=$1 log=$work/listen.log port=""
  MEMOPT_NVML_LIBRARY=/nonexistent "$memopt" monitor 1 --duration 30 --listen 127.0.0.1:0 \
    >/dev/null 2>"$log" &
  local pid=$!
  for _ in $(seq 100); do
    port=$(sed -n 's|.*serving http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$log")
    [[ -n $port ]] && break
    sleep 0.1
  done
  [[ -n $port ]] || { kill "$pid" 2>/dev/null; cat "$log" >&2; fail "$memopt: --listen did not start"; }
  "$python" - "$port" <<'PY' || { kill "$pid"; fail "$memopt: /healthz did not answer 200"; }
import sys, time, urllib.error, urllib.request
for _ in range(100):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=5) as r:
            sys.exit(0 if r.status == 200 else 1)
    except urllib.error.HTTPError as e:
        if e.code != 503:
            raise
        time.sleep(0.1)
sys.exit(1)
PY
  kill -TERM "$pid"
  wait "$pid" || fail "$memopt monitor --listen exited $? on SIGTERM"
}

if [[ $what != --deb-only ]]; then
  start=$(date +%s)
  step "building the wheel (python3 -m build --wheel --no-isolation)"
  rm -rf _skbuild
  "$python" -m build --wheel --no-isolation --outdir "$work/dist" . >"$work/wheel.log" 2>&1 \
    || { tail -40 "$work/wheel.log" >&2; fail "the wheel did not build (log above)"; }
  wheel=$(ls "$work"/dist/memopt-*.whl)
  echo "built $(basename "$wheel")"
  "$python" -m zipfile -l "$wheel" | awk '{print $1}' >"$work/wheel.all"
  # The package's every file (each module, py.typed, the C++ module's stub), as in python/memopt.
  grep -E '^memopt/[^/]+$' "$work/wheel.all" | grep -vE '\.so$' | sed 's|^memopt/||' | sort \
    | diff <(cd "$repo/python/memopt" && printf '%s\n' *.py *.pyi py.typed | sort) - \
    || fail "the wheel's memopt/ is not python/memopt (diff above: < missing, > extra)"
  grep -E '^memopt/_memopt\..*so$|data/data/(bin/memopt|lib/memopt/memopt-(http|top)\.so)$' \
    "$work/wheel.all" | sort >"$work/wheel.files"
  [[ $(wc -l <"$work/wheel.files") -eq 4 ]] || { cat "$work/wheel.files"; fail "the wheel lacks files"; }

  step "installing it into a fresh venv"
  "$python" -m venv --system-site-packages "$work/venv"
  "$work/venv/bin/python" -m pip install --no-index --no-deps --quiet "$wheel"
  venv_python=$work/venv/bin/python
  # From outside the source tree: the installed package, never python/memopt.
  installed=$(cd "$work" && "$venv_python" -c 'import memopt; print(memopt.__file__, memopt.__version__)')
  [[ $installed == "$work/venv/lib/"*"/site-packages/memopt/__init__.py "* ]] \
    || fail "import memopt found $installed, not the venv's"
  echo "import memopt: $installed"
  [[ $(PATH=$work/venv/bin:$PATH command -v memopt) == "$work/venv/bin/memopt" ]] \
    || fail "memopt is not on the venv's PATH"
  cli_version=$("$work/venv/bin/memopt" --version)
  [[ $cli_version == "memopt ${installed#* } "* ]] || fail "memopt --version ($cli_version) != memopt.__version__"
  MEMOPT_NVML_LIBRARY=/nonexistent "$work/venv/bin/memopt" report >/dev/null \
    || fail "the venv's memopt report failed"
  check_http "$work/venv/bin/memopt"
  check_top "$work/venv/bin/memopt"

  step "the type hints and _memopt.pyi against the installed modules (mypy's stubtest)"
  (cd "$work" && "$venv_python" -m mypy.stubtest --concise \
    --allowlist "$repo/python/stubtest-allowlist.txt" memopt) \
    || fail "the type hints or _memopt.pyi do not match the installed memopt"

  step "the Python tests against the installed package"
  fake_nvml=$repo/build/tests/fake_nvml/full/libnvidia-ml.so.1
  [[ -e $fake_nvml ]] || fail "$fake_nvml is missing: run scripts/test.sh first"
  (cd "$work" && env -u PYTHONPATH PYTHONDONTWRITEBYTECODE=1 MEMOPT_BINARY="$work/venv/bin/memopt" \
    MEMOPT_FAKE_NVML="$fake_nvml" "$venv_python" -m pytest -q -p no:cacheprovider "$repo/python/tests") \
    || fail "the Python tests failed against the installed wheel"
  summary+=("wheel: $(basename "$wheel") $(du -k "$wheel" | cut -f1) KiB; installed $(du -sk "$work/venv/lib/"*/site-packages/memopt "$work/venv/bin/memopt" "$work/venv/lib/memopt" | awk '{s+=$1} END {print s}') KiB; wheel test $(seconds "$start") s")
  rm -rf _skbuild
fi

if [[ $what != --wheel-only ]]; then
  start=$(date +%s)
  if [[ $(id -u) -ne 0 ]]; then
    echo "test-install: skipping the .deb: apt-get install needs root" >&2
  else
    step "building the .deb (cmake -DMEMOPT_PACKAGE_DEB=ON, cpack -G DEB)"
    cmake -S . -B "$deb_build" -G Ninja -DMEMOPT_PACKAGE_DEB=ON -DCMAKE_BUILD_TYPE=Release \
      "${cmake_launcher[@]}" >/dev/null
    cmake --build "$deb_build" >"$work/deb-build.log" 2>&1 || { tail -40 "$work/deb-build.log" >&2; fail "build-deb"; }
    (cd "$deb_build" && cpack -G DEB -B "$work/deb" >"$work/cpack.log" 2>&1) \
      || { cat "$work/cpack.log" >&2; fail "cpack -G DEB"; }
    deb=$(ls "$work"/deb/memopt_*_amd64.deb)
    echo "built $(basename "$deb")"
    dpkg-deb --field "$deb" Package Version Depends Recommends Installed-Size
    binary_bytes=$(dpkg-deb --contents "$deb" | awk '$6 == "./usr/bin/memopt" {print $3}')
    depends=$(dpkg-deb --field "$deb" Depends)
    for lib in libc6 libstdc++6 libmicrohttpd libsqlite3-0; do
      [[ $depends == *"$lib"* ]] || fail "Depends: lacks $lib ($depends)"
    done
    dpkg-query -W -f='${Status}' memopt 2>/dev/null | grep -q 'install ok installed' \
      && fail "memopt is already installed on this machine; not touching it"

    step "apt-get install ./$(basename "$deb")"
    cp "$deb" "$work/install.deb"  # apt reads it as _apt: a path it can open
    chmod 644 "$work/install.deb"; chmod 755 "$work"
    installed_deb=1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=120 "$work/install.deb" >/dev/null
    dpkg -L memopt | sort >"$work/deb.files"
    for f in /usr/bin/memopt /usr/lib/memopt/memopt-http.so /usr/lib/memopt/memopt-top.so /usr/share/man/man1/memopt.1.gz \
      /usr/share/bash-completion/completions/memopt /usr/share/zsh/vendor-completions/_memopt \
      /usr/share/memopt/deploy/kubernetes/sidecar.yaml \
      $(cd "$repo/python/memopt" && printf '/usr/lib/python3/dist-packages/memopt/%s\n' *.py *.pyi py.typed); do
      grep -qx "$f" "$work/deb.files" || fail "the package lacks $f"
    done
    /usr/bin/memopt --version
    MEMOPT_NVML_LIBRARY=/nonexistent /usr/bin/memopt report >/dev/null || fail "memopt report"
    check_http /usr/bin/memopt
    check_top /usr/bin/memopt
    imported=$(cd / && "$python" -c 'import memopt; print(memopt.__file__, memopt.__version__, memopt.parse_size("1G"))')
    [[ $imported == "/usr/lib/python3/dist-packages/memopt/__init__.py $(dpkg-deb --field "$deb" Version) 1073741824" ]] \
      || fail "python3 -c 'import memopt' gave: $imported"
    echo "import memopt: $imported"
    zcat /usr/share/man/man1/memopt.1.gz | grep -q 'fB\\-\\-version' || fail "the man page lacks --version"
    bash -c 'source /usr/share/bash-completion/completions/memopt; COMP_WORDS=(memopt rep); COMP_CWORD=1; _memopt; [[ ${COMPREPLY[*]} == report ]]' \
      || fail "bash completion"
    installed_kib=$(dpkg-query -W -f='${Installed-Size}' memopt)

    step "apt-get remove --purge memopt"
    DEBIAN_FRONTEND=noninteractive apt-get remove --purge -y -qq -o DPkg::Lock::Timeout=120 memopt >/dev/null
    installed_deb=0
    dpkg-query -W -f='${Status}' memopt 2>/dev/null | grep -q installed && fail "memopt is still installed"
    left=()
    while read -r f; do
      [[ -e $f && ! -d $f ]] && left+=("$f")
    done <"$work/deb.files"
    for d in /usr/lib/memopt /usr/share/memopt /usr/lib/python3/dist-packages/memopt /usr/share/doc/memopt; do
      [[ -e $d ]] && left+=("$d")
    done
    ((${#left[@]} == 0)) || fail "left behind after the purge: ${left[*]}"
    echo "removed; nothing left of the $(wc -l <"$work/deb.files") paths it installed"
    summary+=("deb: $(basename "$deb") $(du -k "$deb" | cut -f1) KiB; Installed-Size $installed_kib KiB; /usr/bin/memopt (stripped) $binary_bytes bytes; deb test $(seconds "$start") s")
  fi
fi

echo
for line in "${summary[@]}"; do echo "test-install: $line"; done
echo "test-install: ok"
