#!/usr/bin/env bash
# How long `memopt cleanup` takes when N cooperating processes accept its request and never
# answer (tests/hostile/fake_cleanup_server.py silent), as root, in a private mount namespace
# with fresh /run and /tmp (drop_caches/compact_memory bound to a scratch file: the host's
# caches are left alone).
# Usage: bench/cleanup_hostile.sh [MEMOPT_BINARY] [N] [EXTRA CLEANUP FLAGS...]
#   e.g. bench/cleanup_hostile.sh build/memopt 50 --timeout 2
set -euo pipefail
cd "$(dirname "$0")/.."
memopt=$(realpath "${1:-build/memopt}")
count=${2:-50}
shift 2 || true
fake=$(realpath tests/hostile/fake_cleanup_server.py)
exec unshare --mount sh -c '
set -eu
mount -t tmpfs -o mode=1777 bench /tmp
mount -t tmpfs -o mode=0755 bench /run
: > /tmp/vm
mount --bind /tmp/vm /proc/sys/vm/drop_caches
mount --bind /tmp/vm /proc/sys/vm/compact_memory
mkdir -m 0755 /run/memopt
/usr/bin/python3 "$1" silent /run/memopt "$2" > /tmp/ready &
fake=$!
until grep -q ready /tmp/ready; do sleep 0.1; done
memopt=$3
shift 3
t0=$(date +%s.%N)
"$memopt" cleanup --json "$@" > /tmp/out.json || true
t1=$(date +%s.%N)
kill $fake
printf "cleanup with %s silent servers: %.1f s; " "$(ls /run/memopt | wc -l)" "$(echo "$t1 - $t0" | bc)"
/usr/bin/python3 -c "import json,collections; d=json.load(open(\"/tmp/out.json\")); print(dict(collections.Counter(p[\"status\"] for p in d[\"processes\"])), d[\"steps\"][0].get(\"reason\"))"
' sh "$fake" "$count" "$memopt" "$@"
