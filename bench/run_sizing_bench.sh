#!/usr/bin/env bash
# Sizing comparison (issue 14). For three workloads:
#   spiky    memopt_test_holder: holds 150 MiB, one 0.1 s spike to 280 MiB (a batch)
#   steady   memopt_test_holder: holds 200 MiB for 2 s (a server between requests)
#   torch    /usr/bin/python3 + torch (CPU): builds a ~240 MiB MLP (the "model load"), then
#            5 inference batches of 16 (skipped when torch is not importable)
# it runs `memopt run --json` once (no limit, --sample-ms SAMPLE_MS) and prints, per workload:
# the kernel's usage peak, the working-set peak memopt sizes from, the sampled-only peak, the
# recommendation memopt makes, what the old sampled-only rule would have recommended, and the
# seed's table (`recommend --model maptr`: 2 GiB recommended for any perception model). Each
# recommendation is then *run* under its own limit RUNS times; the table says how many were
# OOM-killed.
#
# Usage: bench/run_sizing_bench.sh [BUILD_DIR]   (default build)
# Env:   SAMPLE_MS=500 RUNS=3 WORKLOADS="spiky steady torch" HOLDER=PATH (default BUILD_DIR/tests/memopt_test_holder)
set -euo pipefail
cd "$(dirname "$(realpath "$0")")/.."
build=$(realpath "${1:-build}")
memopt=$build/memopt
holder=${HOLDER:-$build/tests/memopt_test_holder}
SAMPLE_MS=${SAMPLE_MS:-500} RUNS=${RUNS:-3}
export MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/torch_model.py" <<'PY'
import torch
torch.set_num_threads(1)
# ~240 MiB of float32 weights: 8 layers of 2048x4096 (the "load"), then inference batches.
model = torch.nn.Sequential(*[torch.nn.Linear(2048 if i % 2 == 0 else 4096,
                                              4096 if i % 2 == 0 else 2048) for i in range(8)])
model.eval()
with torch.no_grad():
    for _ in range(5):
        model(torch.randn(16, 2048))
PY

declare -A commands=(
  [spiky]="$holder 150 800 280 250 100"
  [steady]="$holder 200 2000"
  [torch]="/usr/bin/python3 $work/torch_model.py"
)
read -r -a order <<< "${WORKLOADS:-spiky steady torch}"
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  order=("${order[@]/torch/}")
  echo "torch is not importable by /usr/bin/python3: the torch workload is skipped"
fi

field() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
mib() { echo $(( $1 / 1048576 )); }

# How many of RUNS runs under LIMIT were OOM-killed.
oom_runs() {
  local limit=$1; shift
  local killed=0
  for _ in $(seq "$RUNS"); do
    "$memopt" run --limit "$limit" --json --output "$work/under.json" -- "$@" 2>/dev/null || true
    [[ $(field "$work/under.json" 'd["oom_killed"]') == True ]] && killed=$((killed + 1))
  done
  echo "$killed/$RUNS"
}

seed=$("$memopt" recommend --model maptr | awk '/^recommended/ {print $2, $3; exit}')
echo "sample period ${SAMPLE_MS} ms; seed's table (maptr, recommended): $seed"
echo
echo "| workload | kernel usage peak | memopt peak (kernel) | sampled peak | memopt recommends | OOM under it | sampled rule recommends | OOM under it | seed table | OOM under it |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for name in "${order[@]}"; do
  [[ -n $name ]] || continue
  read -r -a cmd <<< "${commands[$name]}"
  "$memopt" run --sample-ms "$SAMPLE_MS" --json --output "$work/$name.json" -- "${cmd[@]}" 2>/dev/null
  usage=$(field "$work/$name.json" 'd["peak_usage_bytes"]')
  peak=$(field "$work/$name.json" 'd["peak_bytes"]')
  sampled=$(field "$work/$name.json" 'd["sampled_peak_bytes"]')
  rec=$(field "$work/$name.json" 'd["recommendation"]["memory_bytes"]')
  # The old rule: the smallest 256 MiB step keeping the *sampled* peak at or below 60%.
  old=$(/usr/bin/python3 -c "import math,sys; s=int(sys.argv[1]); print(max(1, math.ceil(s/0.6/(256<<20)))*(256<<20))" "$sampled")
  echo "| $name | $(mib "$usage") MiB | $(mib "$peak") MiB | $(mib "$sampled") MiB | $(mib "$rec") MiB | $(oom_runs "$rec" "${cmd[@]}") | $(mib "$old") MiB | $(oom_runs "$old" "${cmd[@]}") | 2048 MiB | $(oom_runs 2G "${cmd[@]}") |"
done
