#!/usr/bin/env python3
"""Fails when an #include runs back up the layers of src/, include/memopt/ and the Python
module's C++ (docs/architecture.md).

Each folder is a layer; a file may include its own layer and the layers below it, never one
above, and never one FORBIDDEN to it (the command line: neither sys nor readers). A header at the top of include/memopt/ belongs to the layer named in TOP_LEVEL. Prints
each upward edge as `FILE:LINE: LAYER includes HEADER (LAYER)` and exits 1; exits 0 when none.
Usage: scripts/check_layers.py [REPO_ROOT]
"""

import pathlib
import re
import sys

# Bottom first. Written once: docs/architecture.md describes the same order.
LAYERS = [
    "common",  # Error, units, printable text, version, timestamps
    "sys",  # system calls and files: fs, processes, sockets, clocks, pidfds
    "model",  # plain data: a sample, a process, a target
    "readers",  # kernel and NVML files parsed into the model; one sample collected
    "analysis",  # pure judgements: levels, trends, groups, sizing, diagnose, events
    "config",  # the TOML configuration and its overrides
    "protocol",  # the cleanup socket's wire: request names, keys, encoders and decoders
    "actions",  # what changes the world: cleanup, protect, run, hooks, socket clients
    "render",  # text, JSON, Prometheus, HTML of what the layers below produce
    "engine",  # the monitor's loop: schedule, escalate, publish to sinks
    "inprocess",  # the library embedded in inference processes (its server, protect())
    "record",  # the flight recorder: an engine sink writing SQLite, post-mortems
    "http",  # modules loaded at run time: the HTTP server, the terminal view
    "top",
    "cli",  # the command line: parses flags, wires the layers, prints
]
TOP_LEVEL = {
    "error.hpp": "common",
    "printable.hpp": "common",
    "units.hpp": "common",
    "version.hpp": "common",
    "timestamp.hpp": "common",
    "exit_status.hpp": "common",
    "roots.hpp": "common",
    "json_values.hpp": "common",
    "config.hpp": "config",
    "engine.hpp": "engine",
    "inprocess.hpp": "inprocess",
    "protect.hpp": "inprocess",
    "forecast.hpp": "inprocess",
}
# The two modules sit side by side: neither includes the other.
RANK = {name: rank for rank, name in enumerate(LAYERS)}
RANK["top"] = RANK["http"]
RANK["cli"] = RANK["http"] + 1
RANK["python"] = RANK["cli"]  # python/memopt_module.cpp: a front end like the command line

# Layers a layer may not include although they sit below it. The command line only parses
# flags, wires the layers and prints: reading the kernel's files (readers) and calling the
# system (sys) are jobs of the layers between, which own them for every front end, so a command
# that needed either had a piece of work in the wrong place.
FORBIDDEN = {"cli": {"sys", "readers"}}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer_of_header(header: str) -> "str | None":
    """The layer of an included path: memopt/<layer>/x.hpp, memopt/x.hpp, or <layer>/x.hpp
    (a private header of src/<layer>/)."""
    parts = header.split("/")
    if parts[0] == "memopt":
        if len(parts) == 2:
            return TOP_LEVEL.get(parts[1], "?" + parts[1])
        return parts[1]
    if len(parts) >= 2 and parts[0] in RANK:
        return parts[0]
    return None  # a header of the same folder, or a library's


def layer_of_file(path: pathlib.Path, root: pathlib.Path) -> str:
    rel = path.relative_to(root).parts
    if rel[0] == "src":
        return rel[1]
    if rel[0] == "python":
        return "python"
    if len(rel) == 3:  # include/memopt/x.hpp
        return TOP_LEVEL.get(rel[2], "?" + rel[2])
    return rel[2]


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    files = sorted(
        p
        for base in (root / "src", root / "include" / "memopt", root / "python")
        for p in (base.glob("*.cpp") if base.name == "python" else base.rglob("*"))
        if p.suffix in (".cpp", ".hpp", ".h", ".c")
    )
    if not files:
        print(f"check_layers: no sources under {root}/src or {root}/include/memopt", file=sys.stderr)
        return 2
    problems = []
    for path in files:
        own = layer_of_file(path, root)
        if own not in RANK:
            problems.append(f"{path.relative_to(root)}: folder {own!r} is not a layer (add it to LAYERS)")
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            match = INCLUDE.match(line)
            if not match:
                continue
            target = layer_of_header(match.group(1))
            if target is None or target == own:
                continue
            if target not in RANK:
                problems.append(
                    f"{path.relative_to(root)}:{number}: {match.group(1)} is in no layer "
                    f"(add it to TOP_LEVEL or LAYERS)"
                )
            elif target in FORBIDDEN.get(own, ()):
                problems.append(
                    f"{path.relative_to(root)}:{number}: {own} includes {match.group(1)} ({target}), "
                    f"which {own} may not include (FORBIDDEN)"
                )
            elif RANK[target] >= RANK[own]:
                problems.append(
                    f"{path.relative_to(root)}:{number}: {own} includes {match.group(1)} ({target}), "
                    f"which is {'beside' if RANK[target] == RANK[own] else 'above'} it"
                )
    for problem in problems:
        print(problem)
    if problems:
        print(f"check_layers: {len(problems)} include(s) against the layer order", file=sys.stderr)
        return 1
    print(f"check_layers: {len(files)} files, no include runs back up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
