"""Starting and stopping a server process for the HTTP benchmarks (loopback only)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ok(url: str, timeout_s: float = 600.0) -> None:
    """Return once ``url`` answers 200 (``/readyz`` answers 503 until the indexes are loaded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not become ready in {timeout_s} s")


@contextmanager
def serving(
    cmd: list[str], ready_url: str, env: Mapping[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``cmd`` until the block ends (SIGINT, then SIGKILL after 60 s); yields the process."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ok(ready_url)
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and every live descendant (Linux
    ``/proc``): a server's cost per request that a loaded machine inflates far less than its
    wall-clock throughput."""
    ticks = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    total = 0.0
    for p, cpu in used.items():
        q = p
        while q > 1 and q != pid:
            q = parent.get(q, 0)
        total += cpu if q == pid else 0.0
    return total
