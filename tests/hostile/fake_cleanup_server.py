#!/usr/bin/python3
"""Hostile stand-ins for a process that called memopt.serve_cleanup(), for the cleanup-socket
tests. Prints "ready" once every socket listens, then waits to be killed.

usage: fake_cleanup_server.py MODE DIR [COUNT] [NAME_PID]
  MODE   never-accept  listen, never accept, backlog filled: a blocking connect() hangs
         silent        accept and never answer
         forge         answer every request with a forged success (909 TiB released)
         stream        answer with "[" forever, as fast as the client reads
         big           answer 16 MiB of "[" and then a newline
         deep          answer 900 KiB of "[" and then a newline (under 1 MiB, nested 900K deep)
         evil-error    answer {"error": ...} whose string holds ESC sequences, CR/LF and bidi
                       controls (JSON-escaped, as a real server's json.dumps would send them)
  DIR    where the sockets go
  COUNT  forked servers, each on <its pid>.sock (default 1)
  NAME_PID  name the (single) socket <NAME_PID>.sock instead of the server's own pid
  With FAKE_UID set in the environment, each server drops to that uid after bind, before listen
  (SO_PEERCRED then reports that uid).
"""
import json
import os
import signal
import socket
import sys
import threading
import time

mode, directory = sys.argv[1], sys.argv[2]
count = int(sys.argv[3]) if len(sys.argv) > 3 else 1
name_pid = sys.argv[4] if len(sys.argv) > 4 else None
FORGED = b'{"pid":1,"released_bytes":999999999999999,"steps":[{"name":"cuda",' \
         b'"status":"done","gpu_released_bytes":123480309760}]}\n'


EVIL = "\x1b[2J\x1b]0;pwned\x07\r\nMEMOPT OK: all memory freed\u202egnp.exe\u2066x\u2069\x9b31m"
EVIL_LINE = (json.dumps({"error": EVIL}, ensure_ascii=False) + "\n").encode()
CHUNK = b"[" * 65536


def answer(conn):
    """Answers one connection in the hostile MODE (run in its own thread)."""
    try:
        conn.recv(64)
        if mode == "stream":
            while True:
                conn.sendall(CHUNK)
        elif mode == "big":
            for _ in range(256):
                conn.sendall(CHUNK)
            conn.sendall(b"\n")
        elif mode == "deep":
            conn.sendall(b"[" * (900 * 1024) + b"\n")
        elif mode == "evil-error":
            conn.sendall(EVIL_LINE)
        time.sleep(3600)  # hold the connection open: the client must not wait for EOF
    except OSError:
        pass  # the client hung up (it refused the answer or its deadline passed)
    finally:
        conn.close()


def serve(ready_fd):
    path = os.path.join(directory, f"{name_pid or os.getpid()}.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o666)
    if "FAKE_UID" in os.environ:
        os.setgid(int(os.environ["FAKE_UID"]))
        os.setuid(int(os.environ["FAKE_UID"]))
    server.listen(0)
    held = []
    if mode == "never-accept":
        while True:  # fill the backlog: the next blocking connect() waits for an accept
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.setblocking(False)
            try:
                c.connect(path)
                held.append(c)
            except BlockingIOError:
                break
    os.write(ready_fd, b"x")
    while True:
        if mode == "never-accept":
            time.sleep(3600)
        conn, _ = server.accept()
        held.append(conn)
        if mode in ("stream", "big", "deep", "evil-error"):
            threading.Thread(target=answer, args=(conn,), daemon=True).start()
            continue
        if mode == "forge":
            try:
                conn.recv(64)
                conn.sendall(FORGED)
            except OSError:
                pass  # a client that hung up first (memopt refusing the peer): serve the next


read_fd, write_fd = os.pipe()
children = []
for _ in range(count):
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        serve(write_fd)
        os._exit(0)
    children.append(pid)
os.close(write_fd)
for _ in range(count):
    os.read(read_fd, 1)
print("ready", " ".join(str(pid) for pid in children), flush=True)


def stop(*_):
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    os._exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
while True:
    time.sleep(3600)
