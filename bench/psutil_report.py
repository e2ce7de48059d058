#!/usr/bin/python3
"""What `memopt report --json` does, done with psutil: the comparison for bench/compare_report.sh.

Host memory from psutil.virtual_memory(), then memory_full_info() (smaps_rollup: PSS, USS,
swap; statm: RSS) of every process, the top 5 by PSS printed as JSON. Run it with Debian's
/usr/bin/python3 and python3-psutil.
"""
import json

import psutil


def main():
    vm = psutil.virtual_memory()
    processes = []
    for proc in psutil.process_iter(["pid", "name"]):
        try:
            mem = proc.memory_full_info()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue  # exited mid-scan
        except psutil.AccessDenied:
            try:
                rss = proc.memory_info().rss
            except psutil.Error:
                continue
            processes.append({"pid": proc.info["pid"], "name": proc.info["name"],
                              "rss_bytes": rss, "pss_bytes": None, "uss_bytes": None,
                              "swap_bytes": None})
            continue
        processes.append({"pid": proc.info["pid"], "name": proc.info["name"],
                          "rss_bytes": mem.rss, "pss_bytes": mem.pss, "uss_bytes": mem.uss,
                          "swap_bytes": mem.swap})
    processes.sort(key=lambda p: p["pss_bytes"] if p["pss_bytes"] is not None else p["rss_bytes"],
                   reverse=True)
    print(json.dumps({
        "host": {"total_bytes": vm.total, "available_bytes": vm.available, "free_bytes": vm.free,
                 "used_percent": vm.percent},
        "processes": processes[:5],
    }, indent=2))


if __name__ == "__main__":
    main()
