"""The TUI under a log flood, against the idle case, in one run.

Runs the real `devenv` in a pseudo-terminal (120x40) twice on stacks of local
processes in a temp dir:

- idle: ten services that print nothing;
- flood: one service printing FLOOD_RATE lines/s for FLOOD_SECONDS (default
  50,000/s for 20 s), next to a quiet one.

In each it measures keypress-to-screen latency (press `t`, wait until the logs
title says "timestamps" in the bytes written to the terminal, `t` again,
repeat), devenv's own CPU (% of one core, from /proc times) and its peak
resident memory, sampled every 0.25 s.

    python bench/tui_flood.py [--rate 50000] [--seconds 20] [--json out.json]
                              [--only flood]

To compare two trees side by side, alternate runs with PYTHONPATH pointing at
each (the devenv under test is `python -m devenv` from PYTHONPATH); `--only
flood --seconds 40` gives ~90 key presses per run, so p99 is not just the max.

Needs only local processes (no Docker). Uses psutil for the measurements.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import textwrap
import threading
import time
from pathlib import Path

import psutil

COLS, ROWS = 120, 40

FLOOD = """
import sys, time
rate, seconds = float(sys.argv[1]), float(sys.argv[2])
time.sleep(float(sys.argv[3]))  # let the UI settle before the flood
start = time.monotonic()
n = 0
out = sys.stdout
while True:
    elapsed = time.monotonic() - start
    if elapsed >= seconds:
        break
    due = int(elapsed * rate) + 1
    if due > n:
        out.write("".join(
            f"line {i} \\x1b[32mok\\x1b[0m some payload to make it realistic\\n"
            for i in range(n, due)
        ))
        out.flush()
        n = due
    time.sleep(0.005)
print(f"flood done: {n} lines", flush=True)
time.sleep(3600)
"""

QUIET = "import time\nprint('up', flush=True)\ntime.sleep(3600)\n"


def write_stack(root: Path, services: dict[str, str]) -> None:
    lines = ["name: tuibench", "services:"]
    for name, run in services.items():
        lines += [f"  {name}:", "    x-devenv:", f"      run: {run}"]
    (root / "compose.yaml").write_text("\n".join(lines) + "\n")


class Terminal:
    """devenv in a pty; a reader thread keeps every byte it writes."""

    def __init__(self, cwd: Path, args: tuple[str, ...] = ()) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        env = dict(os.environ, TERM="xterm-256color", COLORTERM="truecolor")
        env.pop("NO_COLOR", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devenv", *args],
            cwd=cwd,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.buffer = bytearray()
        self.dropped = 0  # bytes cut from the front of `buffer`; positions are absolute
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.5)
                if not ready:
                    if self.proc.poll() is not None:
                        return
                    continue
                data = os.read(self.master, 1 << 16)
            except OSError:
                return
            if not data:
                return
            with self.changed:
                self.buffer += data
                if len(self.buffer) > 1 << 22:  # keep memory bounded
                    cut = len(self.buffer) - (1 << 20)
                    del self.buffer[:cut]
                    self.dropped += cut
                self.changed.notify_all()

    def send(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait_for(self, marker: bytes, after: int, timeout: float) -> bool:
        """Wait until `marker` appears in output written after position `after`.
        Only new bytes are searched, without copies: a slow reader would push back
        on devenv's terminal writes and inflate the very latency being measured."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while self.buffer.find(marker, max(0, after - self.dropped)) < 0:
                after = max(after, self.dropped + len(self.buffer) - len(marker) + 1)
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
        return True

    def position(self) -> int:
        with self.lock:
            return self.dropped + len(self.buffer)

    def quit(self) -> None:
        self.send(b"q")
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.send(b"q")
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()


def measure(
    cwd: Path, ready_marker: bytes, seconds: float, settle: float, attached: bool = False
) -> dict[str, float]:
    """Keypress latency in the UI: devenv's own (in-process engine), or with
    `attached`, `devenv attach` on a session started with `devenv start -d`."""
    session = None
    if attached:
        started = subprocess.run(
            [sys.executable, "-m", "devenv", "start", "-d"], cwd=cwd, capture_output=True
        )
        if started.returncode != 0:
            raise SystemExit(f"devenv start -d failed: {started.stderr.decode()}")
        pid = int((cwd / ".devenv" / "devenv.pid").read_text())
        session = psutil.Process(pid)
        session_cpu_start = session.cpu_times()
    try:
        result = _measure(cwd, ready_marker, seconds, settle, ("attach",) if attached else ())
    finally:
        if session is not None:
            cpu = session.cpu_times()
            used = cpu.user + cpu.system - session_cpu_start.user - session_cpu_start.system
            subprocess.run([sys.executable, "-m", "devenv", "stop"], cwd=cwd, capture_output=True)
    if session is not None:
        result["session_cpu_seconds"] = round(used, 2)
    return result


def _measure(
    cwd: Path, ready_marker: bytes, seconds: float, settle: float, args: tuple[str, ...]
) -> dict[str, float]:
    term = Terminal(cwd, args)
    me = psutil.Process(term.proc.pid)
    if not term.wait_for(ready_marker, 0, 30):
        term.quit()
        raise SystemExit(f"devenv did not show {ready_marker!r} in 30 s")
    time.sleep(settle)
    latencies: list[float] = []
    peak = 0
    cpu_start = me.cpu_times()
    wall_start = time.monotonic()
    misses = 0
    next_sample = 0.0
    timeline: list[float] = []  # RSS every 2 s: flat once the ring buffers are full
    next_mark = 0.0
    while time.monotonic() - wall_start < seconds:
        now = time.monotonic()
        if now >= next_sample:
            rss = me.memory_info().rss
            peak = max(peak, rss)
            next_sample = now + 0.25
            if now >= next_mark:
                timeline.append(round(rss / 2**20, 1))
                next_mark = now + 2
        # `t` turns timestamps on: the logs title gains the word once the screen
        # shows it. A second `t` turns them off again, unmeasured.
        mark = term.position()
        t0 = time.monotonic()
        term.send(b"t")
        if term.wait_for(b"timestamps", mark, 5):
            latencies.append((time.monotonic() - t0) * 1000)
        else:
            misses += 1
        time.sleep(0.1)
        term.send(b"t")
        time.sleep(0.25)
    cpu_end = me.cpu_times()
    wall = time.monotonic() - wall_start
    peak = max(peak, me.memory_info().rss)
    rss_end = me.memory_info().rss
    term.quit()
    cpu = (cpu_end.user + cpu_end.system - cpu_start.user - cpu_start.system) / wall * 100
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, round(p / 100 * (len(latencies) - 1)))]

    return {
        "samples": len(latencies),
        "misses": misses,
        "latency_p50_ms": round(pct(50), 1),
        "latency_p99_ms": round(pct(99), 1),
        "latency_max_ms": round(latencies[-1], 1) if latencies else float("nan"),
        "latency_mean_ms": round(statistics.mean(latencies), 1) if latencies else float("nan"),
        "cpu_percent_of_core": round(cpu, 1),
        "peak_rss_mb": round(peak / 2**20, 1),
        "end_rss_mb": round(rss_end / 2**20, 1),
        "rss_timeline_mb": timeline,  # type: ignore[dict-item]
    }


def idle_cpu(cwd: Path, seconds: float, settle: float) -> dict[str, float]:
    """CPU with no keys and no output at all: what an idle devenv costs once the
    uptimes have passed their first minute (they tick each second until then)."""
    term = Terminal(cwd)
    me = psutil.Process(term.proc.pid)
    if not term.wait_for(b"10/10", 0, 30):
        term.quit()
        raise SystemExit("devenv did not show 10/10 ready in 30 s")
    time.sleep(settle)
    start = me.cpu_times()
    time.sleep(seconds)
    end = me.cpu_times()
    term.quit()
    return {
        "idle_cpu_percent_of_core": round(
            (end.user + end.system - start.user - start.system) / seconds * 100, 2
        )
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--idle-settle", type=float, default=62, help="seconds before idle CPU")
    parser.add_argument(
        "--attached",
        action="store_true",
        help="only the flood, in-process and then with `devenv attach` on `start -d`",
    )
    parser.add_argument("--only", choices=("idle", "flood"), help="run one of the two stacks")
    args = parser.parse_args()
    py = sys.executable
    results: dict[str, object] = {"rate": args.rate, "seconds": args.seconds}
    with tempfile.TemporaryDirectory() as tmp:
        idle_dir = Path(tmp, "idle")
        idle_dir.mkdir()
        (idle_dir / "quiet.py").write_text(QUIET)
        write_stack(idle_dir, {f"svc{i}": f"{py} quiet.py" for i in range(10)})
        flood_dir = Path(tmp, "flood")
        flood_dir.mkdir()
        (flood_dir / "flood.py").write_text(textwrap.dedent(FLOOD))
        (flood_dir / "quiet.py").write_text(QUIET)
        write_stack(
            flood_dir,
            {"flood": f"{py} flood.py {args.rate} {args.seconds} 2", "quiet": f"{py} quiet.py"},
        )
        if args.attached:
            # the flood starts 4 s in: `start -d`, then the UI attaches
            write_stack(
                flood_dir,
                {
                    "flood": f"{py} flood.py {args.rate} {args.seconds} 4",
                    "quiet": f"{py} quiet.py",
                },
            )
            results["flood"] = measure(flood_dir, b"2/2", args.seconds, 2.5)
            print("flood, keys, in-process:", results["flood"], flush=True)
            results["flood_attached"] = measure(flood_dir, b"2/2", args.seconds, 0.5, attached=True)
            print("flood, keys, attached:  ", results["flood_attached"], flush=True)
            if args.json:
                args.json.write_text(json.dumps(results, indent=2))
            return
        if args.only != "flood":
            results["idle_no_input"] = idle_cpu(idle_dir, 10, args.idle_settle)
            print("idle, no input:", results["idle_no_input"], flush=True)
            results["idle"] = measure(idle_dir, b"10/10", args.seconds, 1)
            print("idle, keys:    ", results["idle"], flush=True)
        if args.only != "idle":
            results["flood"] = measure(flood_dir, b"2/2", args.seconds, 2.5)
            print("flood, keys:   ", results["flood"], flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
