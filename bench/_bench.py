"""Shared helpers for the engine benchmarks (reload_latency, log_relay, start_overhead,
idle_cpu): free ports, process groups that are always cleaned up, percentiles,
machine load, and the JSON results file under bench/results/.

Standard library plus psutil only; nothing here imports devenv, so a benchmark
measures devenv from the outside, as a user runs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
PYTHON = sys.executable
DEVENV = [PYTHON, "-m", "devenv"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    data = sorted(values)
    if not data:
        return float("nan")
    pos = (len(data) - 1) * q
    low = int(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def env_for_devenv(source: str | None = None) -> dict[str, str]:
    """The environment to run `python -m devenv` from `source` (a checkout's root;
    default DEVENV_BENCH_SRC, else this repository): how a change is compared
    with the current code side by side (`--alt-src`)."""
    env = dict(os.environ)
    source = source or os.environ.get("DEVENV_BENCH_SRC", str(REPO))
    env["PYTHONPATH"] = source + os.pathsep + env.get("PYTHONPATH", "")
    env["NO_COLOR"] = "1"
    env.pop("DEVENV_INSTANCE", None)
    return env


class Group:
    """Processes started in their own session; every one is killed (group and
    descendants) when the block ends, whatever happened."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        kwargs.setdefault("start_new_session", True)
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(list(argv), **kwargs)
        self.procs.append(proc)
        return proc

    def stop(
        self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, grace: float = 8.0
    ) -> None:
        """Signal the leader, wait, then kill its whole tree (psutil, so children that
        left the group go too)."""
        tree = _descendants(proc.pid)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(grace)
        tree += _descendants(proc.pid)
        _kill_all(proc, tree)

    def close(self) -> None:
        for proc in self.procs:
            _kill_all(proc, _descendants(proc.pid))

    def __enter__(self) -> Group:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _descendants(pid: int) -> list[Any]:
    import psutil

    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


def _kill_all(proc: subprocess.Popen[bytes], tree: list[Any]) -> None:
    import psutil

    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            proc.kill()
    for child in tree:
        with contextlib.suppress(psutil.Error):
            child.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)
    psutil.wait_procs(tree, timeout=5)


def wait_for(
    predicate: Any,
    timeout: float,
    interval: float = 0.01,
    what: str = "condition",
    steady: bool = False,
) -> Any:
    """Ask `predicate` until it gives a true value, pausing `interval` between
    asks; or, `steady`, asking every `interval` from the first ask on, however
    long each takes. Steady polling is fair between two things measured with it
    when asking one takes longer (a request the old instance answers) than asking
    the other (a connection refused at once): the paused kind would ask the slow
    one less often and add the difference to its time."""
    start = time.monotonic()
    deadline = start + timeout
    asks = 0
    while True:
        value = predicate()
        if value:
            return value
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        asks += 1
        pause = start + asks * interval - now if steady else interval
        if pause > 0:
            time.sleep(pause)


def write_results(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_before": data.pop("load_before", None),
        "load_after": load_average(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        **data,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix=f"devenv-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def nodemon_bin() -> Path | None:
    """nodemon installed by `npm install --prefix <cache> nodemon` (done on demand)."""
    prefix = Path(
        os.environ.get("DEVENV_BENCH_NODE", Path.home() / ".cache" / "devenv-bench" / "node")
    )
    binary = prefix / "node_modules" / ".bin" / "nodemon"
    if binary.exists():
        return binary
    npm = shutil_which("npm")
    if npm is None:
        return None
    prefix.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "nodemon"],
        capture_output=True,
        timeout=300,
    )
    return binary if result.returncode == 0 and binary.exists() else None


def shutil_which(name: str) -> str | None:
    import shutil

    return shutil.which(name)


_SERVED = re.compile(rb"^\d+ \d+$")


def served(port: int, timeout: float = 0.5) -> str | None:
    """What a reload benchmark's service answers to GET / (`<VERSION> <pid>`);
    None when nothing answers, or the reply was cut short (the instance was
    stopped while answering)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\nHost: x\r\nConnection: close\r\n\r\n")
            chunks = []
            while True:
                data = sock.recv(4096)
                if not data:
                    break
                chunks.append(data)
    except OSError:
        return None
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    if not re.match(rb"^HTTP/1\.[01] 200", head) or not _SERVED.match(body):
        return None
    return body.decode()
