#!/usr/bin/env bash
# The cooperative socket client against hostile servers (tests/hostile/fake_cleanup_server.py):
# wall time and peak RSS of memopt commands against a server streaming "[" forever, one
# answering 16 MiB of "[", one answering 900 KiB of "[" (nested), and 20 streaming servers.
# "none" is the baseline: the same commands with no server. Runs as root in a private mount namespace (fresh /run, so no real server is asked).
# Usage: sudo bench/socket_client_bench.sh MEMOPT [MEMOPT...]   (e.g. an old and a new build)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
fake=$here/tests/hostile/fake_cleanup_server.py
for memopt in "$@"; do
  memopt=$(readlink -f "$memopt")
  echo "== $memopt"
  unshare --mount sh -s "$fake" "$memopt" <<'SH'
set -u
fake=$1; memopt=$2
mount --make-rprivate /
mount -t tmpfs -o mode=0755 bench-stage /mnt
cp "$fake" /mnt/fake.py; cp "$memopt" /mnt/memopt
mount -t tmpfs -o mode=0755 bench-run /run
mount -t tmpfs -o mode=1777 bench-tmp /tmp
: > /tmp/vm  # cleanup's drop_caches and compact_memory write here, not to the host's
mount --bind /tmp/vm /proc/sys/vm/drop_caches
mount --bind /tmp/vm /proc/sys/vm/compact_memory
run() {  # run MODE COUNT -- memopt args
  mode=$1; count=$2; shift 3
  mkdir -p -m 0755 /run/memopt
  python3 /mnt/fake.py "$mode" /run/memopt "$count" > /tmp/fake.out &
  fake_pid=$!
  until grep -q ready /tmp/fake.out 2>/dev/null; do sleep 0.05; done
  P=$(cut -d' ' -f2 /tmp/fake.out)
  set -- $(echo "$@" | sed "s/@P/$P/")
  t0=$(date +%s.%N)
  timeout 300 /usr/bin/time -q -f %M -o /tmp/rss /mnt/memopt "$@" > /dev/null 2>&1
  rc=$?
  t1=$(date +%s.%N)
  printf '%-12s x%-3s %-42s rc=%-3s %6.2f s  peak RSS %6s KiB\n' "$mode" "$count" "$*" "$rc" \
    "$(echo "$t1 - $t0" | bc)" "$(tail -n 1 /tmp/rss)"
  kill $fake_pid; wait $fake_pid 2>/dev/null
  rm -rf /run/memopt
}
run none 0 -- report --json
run none 0 -- cleanup --json --timeout 1
run stream 1 -- report --pid @P --leaks --timeout 1
run stream 1 -- report --json
run stream 1 -- cleanup --json --timeout 1
run big 1 -- report --pid @P --leaks --timeout 1
run big 1 -- report --json
run deep 1 -- cleanup --json --timeout 1
run stream 20 -- report --json
SH
done
