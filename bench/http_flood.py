#!/usr/bin/env python3
"""/metrics latency and memopt's RSS under slow and greedy HTTP clients (issue 18).

Starts `BINARY monitor 1 --listen 127.0.0.1:PORT` (MEMOPT_HTTP_MODULE, when set, picks the
server module) and measures, in order:

  quiet    /metrics probes, one every 100 ms, each on a fresh connection (10 s timeout)
  loaded   the same probes while 200 slow-loris clients (a byte a second each, reconnecting
           whenever the server drops them) and 2 live pages (3 keep-alive connections each,
           polling every 2 s) are connected
  floods   one 200 MiB request line without a newline, then 4 x 512 MiB at once
  fill     300 connections each sending 63 KiB of headers that never end, held 6 s: the most
           the server's per-connection buffers can hold at once
  after    memopt's RSS 3 s after the floods

A probe that gets no answer within 10 s counts as 10 s. RSS is VmRSS sampled every 50 ms.
Usage: bench/http_flood.py BINARY [--label NAME] [--probes N] [--flood-mib 200,512]
Prints a table and one JSON line (for notes).
"""
import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler(threading.Thread):
    """The largest VmRSS seen since the last reset()."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, False

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.05)

    def reset(self):
        self.peak = rss_kib(self.pid)


def probe(port, timeout=10.0):
    """Seconds for one GET /metrics on a fresh connection; `timeout` when unanswered."""
    start = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                left = timeout - (time.monotonic() - start)
                if left <= 0:
                    return timeout, False
                s.settimeout(left)
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        return time.monotonic() - start, data.startswith(b"HTTP/1.1 200")
    except OSError:
        return timeout, False


def run_probes(port, n):
    latencies, failures = [], 0
    for _ in range(n):
        seconds, ok = probe(port)
        latencies.append(seconds)
        failures += not ok
        time.sleep(0.1)
    return latencies, failures


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class SlowLoris(threading.Thread):
    """`n` sockets, each sending one byte a second of a request that never ends."""

    def __init__(self, port, n):
        super().__init__(daemon=True)
        self.port, self.n, self.stop, self.reconnects = port, n, False, 0
        self.socks = []

    def connect(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
            s.setblocking(False)
            s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            return s
        except OSError:
            return None

    def run(self):
        self.socks = [self.connect() for _ in range(self.n)]
        while not self.stop:
            for i, s in enumerate(self.socks):
                try:
                    if s is None:
                        raise OSError
                    s.send(b"X")
                except OSError:
                    if s is not None:
                        s.close()
                    self.reconnects += 1
                    self.socks[i] = self.connect()
            time.sleep(1)
        for s in self.socks:
            if s is not None:
                s.close()


class LivePage(threading.Thread):
    """One keep-alive connection of the live page, polling `path` every 2 s."""

    def __init__(self, port, path):
        super().__init__(daemon=True)
        self.port, self.path, self.stop = port, path, False
        self.latencies, self.errors = [], 0

    def run(self):
        conn = None
        while not self.stop:
            start = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", self.path)
                conn.getresponse().read()
                self.latencies.append(time.monotonic() - start)
            except (OSError, http.client.HTTPException):
                self.errors += 1
                self.latencies.append(time.monotonic() - start)
                if conn is not None:
                    conn.close()
                conn = None
            time.sleep(2)


def flood(port, mib, results):
    """Sends a request line of `mib` MiB; records (MiB the server took, seconds)."""
    start, sent = time.monotonic(), 0
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"GET /")
            chunk = b"a" * (1 << 20)
            for _ in range(mib):
                s.sendall(chunk)
                sent += 1
    except OSError:
        pass
    results.append((sent, round(time.monotonic() - start, 2)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary")
    parser.add_argument("--label", default="")
    parser.add_argument("--probes", type=int, default=300)
    parser.add_argument("--flood-mib", default="200,512")
    args = parser.parse_args()
    single_mib, multi_mib = (int(x) for x in args.flood_mib.split(","))

    port = free_port()
    log = tempfile.TemporaryFile()
    env = dict(os.environ, MEMOPT_NVML_LIBRARY="/nonexistent/libnvidia-ml.so.1")
    monitor = subprocess.Popen(
        [args.binary, "monitor", "1", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=log, env=env)
    try:
        for _ in range(200):
            if probe(port, 1)[1]:
                break
            time.sleep(0.05)
        else:
            log.seek(0)
            sys.exit(f"the monitor did not come up: {log.read().decode()}")
        rss = RssSampler(monitor.pid)
        rss.start()
        out = {"label": args.label, "rss_start_kib": rss_kib(monitor.pid)}

        quiet, quiet_failed = run_probes(port, 50)
        out["quiet"] = {"p50_ms": round(percentile(quiet, 50) * 1000, 2),
                        "p99_ms": round(percentile(quiet, 99) * 1000, 2),
                        "failed": quiet_failed}

        rss.reset()
        loris = SlowLoris(port, 200)
        loris.start()
        pages = [LivePage(port, path) for _ in range(2)
                 for path in ("/api/history", "/api/report", "/api/events")]
        for p in pages:
            p.start()
        time.sleep(3)
        loaded, loaded_failed = run_probes(port, args.probes)
        page_latencies = [x for p in pages for x in p.latencies]
        out["loaded"] = {
            "p50_ms": round(percentile(loaded, 50) * 1000, 2),
            "p99_ms": round(percentile(loaded, 99) * 1000, 2),
            "max_ms": round(max(loaded) * 1000, 2),
            "failed": loaded_failed, "probes": len(loaded),
            "page_p99_ms": round(percentile(page_latencies, 99) * 1000, 2),
            "page_errors": sum(p.errors for p in pages),
            "slow_client_reconnects": loris.reconnects,
            "rss_peak_kib": rss.peak,
        }
        loris.stop = True
        for p in pages:
            p.stop = True
        loris.join()
        for p in pages:
            p.join()

        rss.reset()
        results = []
        flood(port, single_mib, results)
        threads = [threading.Thread(target=flood, args=(port, multi_mib, results))
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out["floods"] = {"sent_mib_seconds": results, "rss_peak_kib": rss.peak,
                         "alive": monitor.poll() is None}
        time.sleep(3)
        out["rss_after_kib"] = rss_kib(monitor.pid)

        rss.reset()
        header = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"".join(
            b"X-Fill-%02d: %s\r\n" % (i, b"f" * 1000) for i in range(63))
        held = []
        for _ in range(300):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
                s.setblocking(False)
                s.send(header)
                held.append(s)
            except OSError:
                pass
        time.sleep(6)
        for s in held:
            s.close()
        out["fill"] = {"connections": len(held), "rss_peak_kib": rss.peak}
        time.sleep(3)
        out["rss_after_fill_kib"] = rss_kib(monitor.pid)
        out["after_probe_ok"] = probe(port)[1]
        rss.stop = True
    finally:
        monitor.terminate()
        try:
            monitor.wait(10)
        except subprocess.TimeoutExpired:
            monitor.kill()
            monitor.wait()

    print(f"{args.label or args.binary}")
    print(f"  quiet  /metrics p50 {out['quiet']['p50_ms']} ms, p99 {out['quiet']['p99_ms']} ms")
    l = out["loaded"]
    print(f"  200 slow + 2 pages: /metrics p50 {l['p50_ms']} ms, p99 {l['p99_ms']} ms, "
          f"max {l['max_ms']} ms, {l['failed']}/{l['probes']} unanswered; page p99 "
          f"{l['page_p99_ms']} ms, {l['page_errors']} page errors; slow clients dropped "
          f"{l['slow_client_reconnects']} times; peak RSS {l['rss_peak_kib']} KiB")
    f = out["floods"]
    print(f"  floods {single_mib} MiB + 4 x {multi_mib} MiB: (MiB taken, s) {f['sent_mib_seconds']}, "
          f"peak RSS {f['rss_peak_kib']} KiB, alive {f['alive']}")
    print(f"  RSS start {out['rss_start_kib']} KiB, 3 s after floods {out['rss_after_kib']} KiB")
    print(f"  fill: {out['fill']['connections']} connections x 63 KiB of headers, peak RSS "
          f"{out['fill']['rss_peak_kib']} KiB, 3 s after {out['rss_after_fill_kib']} KiB")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
