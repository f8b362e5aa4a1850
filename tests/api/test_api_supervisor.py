"""Several workers on one port: each has its own socket, connections spread across them, a worker
that dies is replaced, and one that cannot start stops the server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from puhui.api import supervisor
from puhui.api.workers import worker_environment

pytestmark = pytest.mark.skipif(not supervisor.balances_connections(),
                                reason="SO_REUSEPORT spreads connections on Linux only")

SERVER = """
import sys
from puhui.api import supervisor
supervisor.START_GRACE_S = float(sys.argv[2])
supervisor.serve(2, "127.0.0.1", int(sys.argv[1]))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sockets_on(pid: int, port: int, state: str) -> set[int]:
    """Inodes of `pid`'s TCP sockets whose local port is `port`, in `state` (0A listen,
    01 established), from Linux's /proc."""
    mine = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            mine.add(int(target[8:-1]))
    found = set()
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == state \
                and int(fields[9]) in mine:
            found.add(int(fields[9]))
    return found


def wait_until_up(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, server.communicate()[0].decode(errors="replace")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the server did not come up")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, int]]:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           **worker_environment(f"sqlite:///{tmp_path / 'served.sqlite'}", "default",
                                tmp_path / "models", tmp_path / "policies")}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), "0.5"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until_up(port, server)
        yield server, port
    finally:
        server.terminate()
        server.communicate(timeout=60)


def test_each_worker_listens_on_its_own_socket_and_gets_connections(
        served: tuple[subprocess.Popen, int], spawned_workers) -> None:
    server, port = served
    workers = spawned_workers(server.pid)
    assert len(workers) == 2
    deadline = time.monotonic() + 60  # the first worker up answers while the other still loads
    while True:
        listening = [sockets_on(pid, port, "0A") for pid in workers]
        if all(listening) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert all(len(s) == 1 for s in listening) and listening[0] != listening[1]
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(24)]
    try:
        for client in clients:  # answered, so accepted: the connection is with its worker now
            client.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
        held = [len(sockets_on(pid, port, "01")) for pid in workers]
    finally:
        for client in clients:
            client.close()
    # the kernel hashes each connection to one of the two sockets: all 24 on one worker would
    # happen by chance once in 8 million runs
    assert sum(held) == 24 and min(held) > 0, held


def test_a_worker_that_dies_is_replaced(served: tuple[subprocess.Popen, int],
                                        spawned_workers) -> None:
    server, port = served
    first = spawned_workers(server.pid)
    os.kill(first[0], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = spawned_workers(server.pid)
        if len(now) == 2 and first[0] not in now:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"no replacement for worker {first[0]}")
    wait_until_up(port, server)
    assert server.poll() is None


def test_a_worker_that_cannot_start_stops_the_server(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, **worker_environment(f"sqlite:///{tmp_path / 'x.sqlite'}", "coin-toss",
                                              tmp_path, tmp_path)}
    server = subprocess.run([sys.executable, "-c", SERVER, str(port), "60"], env=env,
                            capture_output=True, timeout=120)
    output = (server.stdout + server.stderr).decode(errors="replace")
    assert server.returncode != 0
    assert "WorkerFailedToStart" in output and "coin-toss" in output


def test_a_taken_port_is_refused_before_any_worker_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            supervisor.serve(2, "127.0.0.1", taken.getsockname()[1])


def test_a_port_another_server_shares_is_refused_too() -> None:
    """Joining it would split that server's traffic (perhaps on another database) with ours."""
    with supervisor.listening_socket("127.0.0.1", free_port()) as other:
        other.listen()
        with pytest.raises(OSError):
            supervisor.serve(2, "127.0.0.1", other.getsockname()[1])


def test_the_cli_says_why_it_cannot_serve(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        served = subprocess.run(
            [sys.executable, "-m", "puhui.cli", "serve", "--port", str(port), "--db",
             f"sqlite:///{tmp_path / 'x.sqlite'}", "--decider", "default", "--workers", "2"],
            capture_output=True, timeout=120)
    output = (served.stdout + served.stderr).decode(errors="replace")
    assert served.returncode == 1 and f"cannot serve on 127.0.0.1:{port}" in output
    assert "Traceback" not in output


def test_workers_need_a_port_number() -> None:
    with pytest.raises(ValueError, match="port"):
        supervisor.serve(2, "127.0.0.1", 0)
