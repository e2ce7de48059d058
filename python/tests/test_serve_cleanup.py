"""serve_cleanup(): `memopt cleanup` run from outside reaches a Python process and shrinks it."""

import json
import os
import signal
import subprocess
import sys
import textwrap

from conftest import MIB, REPO, rss_of

CHILD = textwrap.dedent(
    """
    import gc, sys
    import memopt

    path = memopt.serve_cleanup()
    assert memopt.serve_cleanup() == path  # idempotent
    objects = [bytes(2000) + bytes([i % 256]) for i in range(100_000)]
    kept = objects[::100] + [objects[-1]]
    del objects
    cycle = []
    cycle.append(cycle)
    del cycle
    gc.disable()  # only a cleanup's gc.collect() frees the cycle now
    print(path, flush=True)
    sys.stdin.readline()
    print(gc.collect(), flush=True)  # 0 when the cleanup's collection freed the cycle
    """
)


def test_memopt_cleanup_from_outside_shrinks_the_python_process(memopt_binary, tmp_path):
    env = dict(os.environ, MEMOPT_RUNTIME_DIR=str(tmp_path),
               MEMOPT_NVML_LIBRARY="/nonexistent/libnvidia-ml.so.1")
    child = subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        socket_path = child.stdout.readline().strip()
        assert socket_path == f"{tmp_path}/{child.pid}.sock"
        assert os.path.exists(socket_path)
        oct_mode = oct(os.stat(socket_path).st_mode & 0o777)
        assert oct_mode == "0o600", oct_mode
        before = rss_of(child.pid)

        run = subprocess.run([memopt_binary, "cleanup", "--json"], env=env, capture_output=True,
                             text=True, timeout=60)
        assert run.returncode in (0, 1), run.stderr  # 1: a kernel step failed, not ours
        answer = json.loads(run.stdout)
        cooperative = next(s for s in answer["steps"] if s["name"] == "cooperative")
        assert cooperative["status"] == "done", cooperative
        ours = [p for p in answer["processes"] if p.get("pid") == child.pid]
        assert ours, answer["processes"]
        released = before - rss_of(child.pid)
        assert released >= 150 * MIB, (released, ours)
        child.stdin.write("done\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "0"  # the cleanup ran gc.collect() there
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    assert child.returncode == 0
    assert not os.path.exists(socket_path)  # removed at exit


SERVE_AND_WAIT = textwrap.dedent(
    """
    import signal, sys
    import memopt

    if len(sys.argv) > 1:  # the program's own handler, installed before serve_cleanup()
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(7))
    print(memopt.serve_cleanup(), flush=True)
    sys.stdin.readline()
    """
)


def test_sigterm_removes_the_socket_and_still_ends_the_process_by_sigterm(tmp_path):
    # `docker stop` sends SIGTERM: the socket once stayed behind in the runtime directory.
    env = dict(os.environ, MEMOPT_RUNTIME_DIR=str(tmp_path))
    child = subprocess.Popen([sys.executable, "-c", SERVE_AND_WAIT], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    socket_path = child.stdout.readline().strip()
    assert os.path.exists(socket_path)
    child.terminate()
    assert child.wait(timeout=30) == -signal.SIGTERM  # the default action's outcome, unchanged
    assert not os.path.exists(socket_path)


def test_a_programs_own_sigterm_handler_keeps_its_meaning(tmp_path):
    env = dict(os.environ, MEMOPT_RUNTIME_DIR=str(tmp_path))
    child = subprocess.Popen([sys.executable, "-c", SERVE_AND_WAIT, "own-handler"], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    socket_path = child.stdout.readline().strip()
    child.terminate()
    assert child.wait(timeout=30) == 7  # its handler ran: sys.exit(7)
    assert not os.path.exists(socket_path)  # and atexit removed the socket
