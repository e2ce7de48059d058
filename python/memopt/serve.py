"""``memopt cleanup`` from outside reaching this process: a socket served on a background
thread (:func:`serve_cleanup`), removed at exit and on a default SIGTERM."""

from __future__ import annotations

import atexit
import os
import signal
import threading
from types import FrameType
from typing import Optional

from . import _memopt

# The server runs the cleanup of this process, memopt's own Python step included: importing the
# cleanup module registers that step, and its hooks outlive the server at exit (atexit runs the
# last registered first).
from . import cleanup as _cleanup  # noqa: F401

__all__ = ["serve_cleanup"]


_server_lock = threading.Lock()
_server: Optional[_memopt.CleanupServer] = None


def serve_cleanup() -> str:
    """Lets ``memopt cleanup`` from outside reach this process: a background thread listens on
    ``<runtime dir>/<pid>.sock`` (0600; same user or root only) and runs the same cleanup as
    cleanup_gpu_memory() on request. Idempotent; returns the socket's path.

    The socket goes when the process exits normally, and also when SIGTERM ends it with the
    default action (``docker stop``): while SIGTERM's handler is the default one, called from
    the main thread, a handler is installed that removes the socket and then dies by SIGTERM
    exactly as before. A handler of the program's own is left alone (one that exits through
    ``sys.exit`` removes the socket at exit); the next server removes sockets of dead processes
    in any case."""
    global _server
    with _server_lock:
        if _server is None:
            _server = _memopt.serve_cleanup()
            _remove_socket_on_sigterm()
        return _server.socket_path


_server_pid: Optional[int] = None  # the process whose SIGTERM removes the socket


def _remove_socket_on_sigterm() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set handlers
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, _sigterm_default)
        global _server_pid
        _server_pid = os.getpid()
    except (ValueError, OSError):  # an embedded interpreter without signal support
        return


def _sigterm_default(signum: int, frame: Optional[FrameType]) -> None:
    # The default action, after the socket is gone: the process still dies *by* SIGTERM (exit
    # status 143 to a shell, -15 to subprocess), without atexit handlers, as it would have.
    with _server_lock:
        server = _server
    # A forked child (a DataLoader worker) inherits the handler, not the socket: its parent's.
    if server is not None and os.getpid() == _server_pid:
        try:
            os.unlink(server.socket_path)
        except OSError:
            pass  # already gone: nothing to remove
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _stop_server() -> None:
    # Before the interpreter goes: the server's thread calls into Python.
    global _server
    with _server_lock:
        if _server is not None:
            _server.stop()
            _server = None


def _after_fork_in_child() -> None:
    # Only the forking thread exists in a forked child (a DataLoader worker, a multiprocessing
    # pool): the server is the parent's (its thread did not come along), and a lock another
    # thread held at the fork would stay held forever. The child starts with a free lock and no
    # server: its serve_cleanup() serves the child.
    global _server_lock, _server, _server_pid
    _server_lock = threading.Lock()
    # Not stopped: stopping would join the parent's thread. The C++ server sees it is in a
    # forked child and leaves the parent's socket alone.
    _server = None
    _server_pid = None


atexit.register(_stop_server)
os.register_at_fork(after_in_child=_after_fork_in_child)
