"""devenv's memory under hostile output: a 10 MiB line with no newline, and a flood.

The real `python -m devenv start --no-tui` runs a one-service compose.yaml in a
temporary directory (stdout a pipe this script drains, as a user's terminal
would); its resident memory is read from `/proc/<pid>/status`: `VmRSS` sampled
every 20 ms, and `VmHWM` (the kernel's own peak) at the end. Each scenario is a
fresh devenv:

- idle: the service prints one line and sleeps; the baseline of the same run
  (Python, the engine, the ring buffers, the orphan guard's pipe);
- bigline: the service prints 10 MiB with no newline (in 64 KiB writes), waits
  3 s with the line still open, then ends it and prints `DONE`;
- flood: the service prints 200,000 lines/s (60-byte lines, 2,000 every 10 ms)
  for 10 s, then `DONE`.

Target: peak RSS under 120 MB in both, read against the idle figure. With
`--alt-src OTHER_CHECKOUT` the same scenarios also run from another checkout's
root, interleaved (alt first), so a change is compared with the code before it
in the same run.

    python bench/memory.py [--alt-src DIR] [--flood-seconds 10] [--rate 200000]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import (
    DEVENV,
    PYTHON,
    Group,
    env_for_devenv,
    load_average,
    table,
    workdir,
    write_results,
)

TARGET_MB = 120.0

IDLE = """\
import time
print("UP", flush=True)
time.sleep(600)
"""

BIGLINE = """\
import os, sys, time
print("UP", flush=True)
time.sleep(0.5)
chunk = b"x" * 65536
for _ in range(160):  # 10 MiB, no newline
    os.write(1, chunk)
time.sleep(3)
os.write(1, b"\\nDONE\\n")
time.sleep(600)
"""

FLOOD = """\
import os, sys, time
rate, seconds = int(sys.argv[1]), float(sys.argv[2])
print("UP", flush=True)
time.sleep(0.5)
per_tick = rate // 100  # one write every 10 ms
n = 0
start = time.monotonic()
tick = 0
while time.monotonic() - start < seconds:
    block = "".join(f"line {n + i:09d} the quick brown fox jumps over\\n" for i in range(per_tick))
    os.write(1, block.encode())
    n += per_tick
    tick += 1
    delay = start + tick / 100 - time.monotonic()
    if delay > 0:
        time.sleep(delay)
os.write(1, f"DONE {n} {time.monotonic() - start:.2f}\\n".encode())
time.sleep(600)
"""

COMPOSE = """\
services:
  svc:
    x-devenv:
      run: {python} service.py {args}
"""


class Drain(threading.Thread):
    """Reads devenv's output to the end; notes when a marker line has come out."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.tail = b""
        self.bytes = 0
        self.seen: dict[bytes, float] = {}
        self.done_line = b""

    def run(self) -> None:
        while True:
            data = os.read(self.fd, 1 << 20)
            if not data:
                break
            self.bytes += len(data)
            window = self.tail + data
            for marker in (b"| UP\n", b"| DONE"):
                where = window.find(marker) if marker not in self.seen else -1
                if where >= 0:
                    self.seen[marker] = time.monotonic()
                    if marker == b"| DONE":
                        self.done_line = window[where : where + 60].split(b"\n")[0]
            self.tail = window[-100:]
        os.close(self.fd)

    def wait_for(self, marker: bytes, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while marker not in self.seen:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


class Sampler(threading.Thread):
    """Samples VmRSS of one pid every 20 ms; keeps the maximum."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0
        self.last_kb = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            rss = status_kb(self.pid, "VmRSS")
            if rss is None:
                return
            self.last_kb = rss
            self.peak_kb = max(self.peak_kb, rss)
            self.stop_event.wait(0.02)


def status_kb(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def scenario(
    group: Group, name: str, source: str | None, args: argparse.Namespace
) -> dict[str, Any]:
    script, service_args, wait_done = {
        "idle": (IDLE, "", 0.0),
        "bigline": (BIGLINE, "", 60.0),
        "flood": (FLOOD, f"{args.rate} {args.flood_seconds}", args.flood_seconds * 4 + 30),
    }[name]
    with workdir(f"memory-{name}") as base:
        (base / "service.py").write_text(script)
        (base / "compose.yaml").write_text(COMPOSE.format(python=PYTHON, args=service_args))
        env = env_for_devenv(source)
        read_fd, write_fd = os.pipe()
        proc = group.popen(
            [*DEVENV, "start", "--no-tui"], cwd=base, stdout=write_fd, stderr=write_fd, env=env
        )
        os.close(write_fd)
        drain = Drain(read_fd)
        drain.start()
        sampler = Sampler(proc.pid)
        sampler.start()
        started = time.monotonic()
        try:
            if not drain.wait_for(b"| UP\n", 30):
                raise RuntimeError(f"{name}: the service never came up")
            up_at = drain.seen[b"| UP\n"] - started
            done = True
            if wait_done:
                done = drain.wait_for(b"| DONE", wait_done)
            time.sleep(2.0)  # settle: what stays after the burst
            hwm = status_kb(proc.pid, "VmHWM") or 0
            after = status_kb(proc.pid, "VmRSS") or 0
            sampler.stop_event.set()
            sampler.join()
            proc.send_signal(signal.SIGINT)
            try:
                code = proc.wait(30)
            except Exception:
                code = None
        finally:
            group.stop(proc)
        drain.join(10)
        return {
            "scenario": name,
            "source": source or "this checkout",
            "peak_mb": max(hwm, sampler.peak_kb) / 1024,
            "sampled_peak_mb": sampler.peak_kb / 1024,
            "after_mb": after / 1024,
            "up_s": up_at,
            "done": done,
            "done_line": drain.done_line.decode(errors="replace"),
            "output_mb": drain.bytes / 1048576,
            "exit": code,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alt-src", default=None, help="also run from this checkout, first")
    parser.add_argument("--flood-seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=200_000)
    args = parser.parse_args()
    load_before = load_average()
    sources: list[str | None] = [args.alt_src, None] if args.alt_src else [None]
    results: list[dict[str, Any]] = []
    with Group() as group:
        for name in ("idle", "bigline", "flood"):
            for source in sources:
                result = scenario(group, name, source, args)
                results.append(result)
                print(
                    f"{name:8} {result['source']}: peak {result['peak_mb']:.1f} MB, "
                    f"after {result['after_mb']:.1f} MB, done={result['done']}",
                    flush=True,
                )
    rows = []
    for source in sources:
        label = source or "this checkout"
        idle = next(r for r in results if r["source"] == label and r["scenario"] == "idle")
        for r in results:
            if r["source"] != label:
                continue
            rows.append(
                [
                    label if len(label) < 30 else "..." + label[-27:],
                    r["scenario"],
                    r["peak_mb"],
                    r["peak_mb"] - idle["peak_mb"],
                    r["after_mb"],
                    "yes" if r["peak_mb"] < TARGET_MB else "NO",
                    "yes" if r["done"] else "NO",
                ]
            )
    print()
    print(
        table(
            ["source", "scenario", "peak MB", "over idle MB", "after MB", "< 120 MB", "DONE seen"],
            rows,
        )
    )
    print(f"\nload average before: {load_before}, after: {load_average()}")
    path = write_results(
        "memory", {"load_before": load_before, "target_mb": TARGET_MB, "runs": results}
    )
    print(f"results: {path}")
    current = [r for r in results if r["source"] == "this checkout"]
    return 0 if all(r["peak_mb"] < TARGET_MB and r["done"] for r in current) else 1


if __name__ == "__main__":
    raise SystemExit(main())
