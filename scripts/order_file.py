#!/usr/bin/python3
"""Writes cmake/memopt.order: the functions memopt runs, for the linker to place together.

The kernel maps a program's code in 64 KiB windows around each page it touches (fault-around),
so the resident set of `memopt monitor` follows how many windows its code is spread over, not
how much of it runs: with the linker's default layout the half MiB that a monitor runs touched
nearly every window of 2 MiB of code. Listed in this file, gold (`--section-ordering-file`, see
CMakeLists.txt) puts those functions side by side: -1.2 MiB resident for `monitor`.

This script runs a build's memopt under valgrind's callgrind doing what users run most (monitor,
with and without --record, and report on this machine, in a limited cgroup when it can make one,
and on every captured cgroup v2 tree in tests/fixtures), and lists each function that ran, in the order first seen,
as the input sections GCC's -ffunction-sections gives it. Rerun it when the monitor's code
changes much; a stale list still links (unknown names match nothing), it only packs less.

Usage: scripts/order_file.py [BUILD_DIR]   (default build; needs valgrind; root for the cgroup)
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "cmake" / "memopt.order"


def callgrind(memopt: Path, args: list[str], work: Path, cgroup_procs: Path | None) -> list[str]:
    """Runs memopt ARGS under callgrind; the names of memopt's functions that ran."""
    out = work / f"callgrind.{len(list(work.glob('callgrind.*')))}"
    command = ["valgrind", "--tool=callgrind", "--demangle=no", "--compress-strings=no",
               "--compress-pos=no", f"--callgrind-out-file={out}", str(memopt), *args]
    if cgroup_procs is not None:
        # The shell joins the cgroup, then becomes valgrind.
        command = ["sh", "-c", f'echo $$ > "{cgroup_procs}" && exec "$@"', "sh", *command]
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    names, in_memopt = [], False
    for line in out.read_text(errors="replace").splitlines():
        if line.startswith("ob="):
            in_memopt = Path(line[3:]).resolve() == memopt.resolve()
        elif line.startswith("fn=") and in_memopt:
            name = line[3:]
            if not name.startswith("0x") and not name.startswith("("):
                names.append(name)
    return names


def make_cgroup() -> tuple[Path, Path] | None:
    """A memory cgroup with a 512 MiB limit (v1 or v2), or None where none can be made."""
    for parent, limit_file in (("/sys/fs/cgroup/memory", "memory.limit_in_bytes"),
                               ("/sys/fs/cgroup", "memory.max")):
        base = Path(parent)
        if not (base / "cgroup.procs").exists() or not os.access(base, os.W_OK):
            continue
        if limit_file == "memory.max" and "memory" not in (base / "cgroup.controllers").read_text():
            continue
        cgroup = Path(tempfile.mkdtemp(prefix="memopt-order-", dir=base))
        try:
            (cgroup / limit_file).write_text(str(512 << 20))
            return cgroup, cgroup / "cgroup.procs"
        except OSError:
            cgroup.rmdir()
    return None


def sections(name: str) -> list[str]:
    """The input sections that can hold function NAME's code."""
    # A complete-object constructor or destructor (C1/D1) is an alias of the base-object one
    # (C2/D2), whose section holds the code.
    names = {name}
    for alias, base in (("C1E", "C2E"), ("C1I", "C2I"), ("D1E", "D2E")):
        if alias in name:
            names.add(name.replace(alias, base, 1))
    # main and static constructors go to .text.startup, functions GCC deems hot to .text.hot.
    return [f"{prefix}.{n}" for n in sorted(names) for prefix in (".text", ".text.startup", ".text.hot")]


def main() -> int:
    build = Path(sys.argv[1] if len(sys.argv) > 1 else "build").resolve()
    memopt = build / "memopt"
    if not memopt.is_file():
        print(f"order_file.py: no {memopt}: build it first", file=sys.stderr)
        return 2
    if shutil.which("valgrind") is None:
        print("order_file.py: needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 2
    runs = [["monitor", "1", "--duration", "4", "--json"], ["monitor", "1", "--duration", "4"],
            ["report"], ["report", "--json"], ["report", "--format", "prometheus"]]
    fixtures = sorted((ROOT / "tests" / "fixtures").glob("v2-*"))
    for tree in fixtures:
        roots = ["--procfs", str(tree / "proc"), "--sysfs", str(tree / "sys")]
        runs += [[*roots, "monitor", "1", "--duration", "3", "--json"], [*roots, "report"]]
    ordered: dict[str, None] = {}
    cgroup = make_cgroup()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        try:
            if cgroup is not None:
                for args in (["monitor", "1", "--duration", "4", "--json"], ["monitor", "60", "--duration", "4"],
                             ["report", "--json"]):
                    ordered.update(dict.fromkeys(callgrind(memopt, args, work, cgroup[1])))
            else:
                print("order_file.py: no memory cgroup could be made (root?): profiling without",
                      file=sys.stderr)
            db = str(work / "history.db")
            for args in [*runs, ["monitor", "1", "--duration", "4", "--json", "--record", db],
                         ["history", "--db", db]]:
                ordered.update(dict.fromkeys(callgrind(memopt, args, work, None)))
        finally:
            if cgroup is not None:
                cgroup[0].rmdir()
    lines = [s for name in ordered for s in sections(name)]
    OUT.write_text("\n".join(lines) + "\n")
    print(f"{OUT.relative_to(ROOT)}: {len(ordered)} functions ({len(lines)} section names)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
