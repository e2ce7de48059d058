"""memopt's threads and locks inside a user's process, against what the user's own threads and
forks do at the same time (issue 31, item 8). Each case runs in a child interpreter with an
alarm, so that a deadlock fails the test instead of hanging the suite."""

import json
import os
import subprocess
import sys

import pytest

ALARM_S = 20


def run(script: str, tmp_path, timeout: int = ALARM_S + 10) -> subprocess.CompletedProcess:
    env = dict(os.environ, MEMOPT_RUNTIME_DIR=str(tmp_path / "run"),
               MEMOPT_NVML_LIBRARY="/nonexistent/libnvidia-ml.so.1")
    prologue = f"import signal\nsignal.alarm({ALARM_S})\n"
    return subprocess.run([sys.executable, "-c", prologue + script], env=env,
                          capture_output=True, text=True, timeout=timeout)


SHED_AGAINST_CACHE_CHURN = """
import threading, time, memopt

class Model:
    def __del__(self):
        time.sleep(0.5)  # releases the GIL, as a model freeing CUDA memory does

cache = memopt.ModelCache("1G")
cache.add("m", lambda: Model())
cache.get("m")

def churn():
    for _ in range(50):
        other = memopt.ModelCache("1G")
        del other

shedding = threading.Thread(target=memopt.shed)
shedding.start()
time.sleep(0.1)  # the shed is dropping the model: its destructor sleeps
churning = threading.Thread(target=churn)
churning.start()
shedding.join()
churning.join()
print("done", flush=True)
"""


def test_a_shed_never_waits_for_the_gil_while_holding_the_caches_lock(tmp_path):
    # Before: the shed held the lock of every cache while the model went, which needs the GIL;
    # the churning thread held the GIL waiting for that lock. SIGALRM ended it.
    result = run(SHED_AGAINST_CACHE_CHURN, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"


FORK_DURING_CLEANUP = """
import os, threading, time, memopt

memopt.register_cleanup_hook("slow", lambda: time.sleep(2))
cleaning = threading.Thread(target=memopt.cleanup_gpu_memory)
cleaning.start()
time.sleep(0.5)  # the cleanup is in its slow hook: memopt's locks are held
pid = os.fork()
if pid == 0:
    memopt.unregister_cleanup_hook("slow")
    result = memopt.cleanup_gpu_memory()
    os._exit(0 if "rss_before_bytes" in result else 3)
_, status = os.waitpid(pid, 0)
cleaning.join()
print(os.waitstatus_to_exitcode(status), flush=True)
"""


def test_a_fork_during_a_cleanup_leaves_the_child_a_cleanup_that_runs(tmp_path):
    # Before: the child waited forever for a lock held by a thread that did not exist in it
    # (its exit status was SIGALRM's).
    result = run(FORK_DURING_CLEANUP, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "0\n", result.stderr


FORKED_CHILD_SERVES = """
import json, os, socket, memopt

def ping(path):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(b"ping\\n")
        return json.loads(s.makefile().readline())["pid"]

parent = memopt.serve_cleanup()
to_parent, from_child = os.pipe()
to_child, from_parent = os.pipe()
pid = os.fork()
if pid == 0:
    child = memopt.serve_cleanup()
    os.write(from_child, (child + "\\n").encode())
    os.read(to_child, 1)  # until the parent has asked
    os._exit(0)
child = os.read(to_parent, 4096).decode().strip()
print(json.dumps({"parent": parent, "child": child, "child_pid": pid, "parent_pid": os.getpid(),
                  "child_answers": ping(child), "parent_answers": ping(parent)}), flush=True)
os.write(from_parent, b"x")
os.waitpid(pid, 0)
print(json.dumps({"parent_socket_left": os.path.exists(parent),
                  "parent_answers": ping(parent)}), flush=True)
"""


def test_a_forked_childs_serve_cleanup_serves_the_child_and_leaves_the_parents(tmp_path):
    result = run(FORKED_CHILD_SERVES, tmp_path)
    assert result.returncode == 0, result.stderr
    first, after = (json.loads(line) for line in result.stdout.splitlines())
    # Before: the child got its parent's path back, and nothing served the child.
    assert first["child"] != first["parent"]
    assert first["child"].endswith(f"/{first['child_pid']}.sock")
    assert first["child_answers"] == first["child_pid"]
    assert first["parent_answers"] == first["parent_pid"]
    # The child's exit leaves the parent's socket and server as they were.
    assert after["parent_socket_left"] is True
    assert after["parent_answers"] == first["parent_pid"]


@pytest.mark.parametrize("call", ["cleanup_gpu_memory", "shed"])
def test_a_daemon_thread_inside_a_cleanup_at_interpreter_exit_does_not_abort(tmp_path, call):
    script = f"""
import threading, time, memopt
memopt.register_cleanup_hook("slow", lambda: time.sleep(1))
memopt.register_shed_hook("slow", lambda: time.sleep(1))
threading.Thread(target=memopt.{call}, daemon=True).start()
time.sleep(0.2)  # the interpreter exits while the thread is inside the hook
"""
    for _ in range(5):
        result = run(script, tmp_path)
        assert result.returncode == 0, result.stderr
        assert "terminate called" not in result.stderr
