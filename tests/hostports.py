"""Host ports for the services a test starts: one rule for the whole suite.

Not from the kernel's ephemeral range (`bind(0)` hands those out): any outgoing
connection — a probe, a Docker API call, a browser — may take such a port as
its local port between the test choosing it and the service binding it, and the
start then fails with "already in use by another process" (seen in CI on the
second replica's port). Ports below the range are never chosen by the kernel.
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

_LOWEST = 20000
_given: set[int] = set()  # this process never hands one out twice


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _window() -> range:
    """This process's share of [_LOWEST, ephemeral low): pytest-xdist workers
    draw from different slices (two test runs side by side share one, at
    random places, and skip a port either has bound)."""
    low, high = _LOWEST, max(_ephemeral_low(), _LOWEST + 2000)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    slot = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    slices = 8
    size = (high - low) // slices
    start = low + (slot % slices) * size
    return range(start, start + size)


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> int:
    """The first of `count` consecutive free ports (replica n of a service
    listens on its port + n - 1)."""
    window = _window()
    rng = random.Random(os.getpid() ^ random.getrandbits(32))
    for _ in range(500):
        base = rng.randrange(window.start, window.stop - count)
        ports = range(base, base + count)
        if any(port in _given for port in ports):
            continue
        if all(_bindable(port) for port in ports):
            _given.update(ports)
            return base
    raise AssertionError(f"no {count} consecutive free ports in {window}")


def free_port() -> int:
    return free_ports(1)
