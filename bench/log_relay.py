"""Headless log relay throughput: a service printing 500,000 lines, devenv vs honcho.

The service (`producer.py`) prints `BEGIN <wall time>`, then N numbered lines
(`line 0000042 the quick brown fox ...`, written in chunks of 1,000 lines),
then `END`, and exits. Each runner's stdout is a pipe this script drains in a
thread; the relay time is from the service's BEGIN timestamp to the moment the
END line comes out of the runner (the service's own start-up is not counted,
the runner's start-up neither). Side by side, interleaved, in the same run:

- raw pipe: the producer piped straight to this script (the floor);
- devenv: `python -m devenv start --no-tui` on a compose.yaml with the
  producer as an `x-devenv` process, with everything on that is on by default:
  timestamps, the 10,000-line ring buffer and the `.devenv/logs/` file;
- honcho: `honcho start` on a Procfile with the same command.

Every line must come through: the numbers 0..N-1 are checked in order in the
output, and in devenv's log file. The file cap is raised to 64 MB for the run
(`DEVENV_LOG_FILE_MB`) so the file can hold all of them; with the default
10 MB cap (3 files) it keeps the newest ~30 MB, and the check is then
that the lines kept are an unbroken run ending with the last one.

Targets: devenv >= 10x honcho's rate and >= 400,000 lines/s (200,000 lines in
0.5 s, the fastest relay measured when the target was set).

    python bench/log_relay.py [--lines 500000] [--repeat 2] [--no-honcho]
"""

from __future__ import annotations

import argparse
import os
import re
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
    shutil_which,
    table,
    workdir,
    write_results,
)

PRODUCER = """\
import sys
import time

n = int(sys.argv[1])
out = sys.stdout
out.write(f"BEGIN {time.time():.6f}\\n")
out.flush()
batch = []
for i in range(n):
    batch.append(f"line {i:07d} the quick brown fox jumps over the lazy dog\\n")
    if len(batch) == 1000:
        out.write("".join(batch))
        batch.clear()
out.write("".join(batch))
out.write("END\\n")
out.flush()
"""

COMPOSE = """\
services:
  web:
    x-devenv:
      run: {python} producer.py {lines}
"""

LINE_RE = re.compile(rb"line (\d{7}) the quick brown fox jumps over the lazy dog$", re.MULTILINE)
BEGIN_RE = re.compile(rb"BEGIN (\d+\.\d+)")
TARGET_RATE = 400_000.0


class Drain(threading.Thread):
    """Reads a pipe to the end; notes the wall time when the END line arrives."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.chunks: list[bytes] = []
        self.end_at: float | None = None

    def run(self) -> None:
        tail = b""
        while True:
            data = os.read(self.fd, 1 << 20)
            if not data:
                break
            self.chunks.append(data)
            if self.end_at is None:
                window = tail + data
                if b"END\n" in window and re.search(rb"(^|[| ])END\n", window, re.MULTILINE):
                    self.end_at = time.time()
                tail = data[-64:]
        os.close(self.fd)

    @property
    def output(self) -> bytes:
        return b"".join(self.chunks)


def check_sequence(output: bytes, lines: int) -> tuple[int, bool]:
    """(lines found, all of 0..lines-1 present in order)."""
    numbers = [int(m) for m in LINE_RE.findall(output)]
    return len(numbers), numbers == list(range(lines))


def check_log_file(log_dir: Path, lines: int) -> dict[str, Any]:
    """The file keeps the newest lines: they must be one unbroken run ending at the last."""
    numbers: list[int] = []
    rotated = sorted(log_dir.glob("web.log.*"), key=lambda p: -int(p.suffix[1:]))
    for path in [*rotated, log_dir / "web.log"]:
        if path.exists():
            numbers += [int(m) for m in LINE_RE.findall(path.read_bytes())]
    unbroken = bool(numbers) and numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    return {
        "complete": numbers == list(range(lines)),
        "lines_in_file": len(numbers),
        "first": numbers[0] if numbers else None,
        "ends_at_last": bool(numbers) and numbers[-1] == lines - 1,
        "unbroken": unbroken,
    }


def run_one(
    group: Group, argv: list[str], cwd: Path, env: dict[str, str], lines: int
) -> dict[str, Any]:
    read_fd, write_fd = os.pipe()
    launched = time.time()
    proc = group.popen(argv, cwd=cwd, stdout=write_fd, stderr=write_fd, env=env)
    os.close(write_fd)
    drain = Drain(read_fd)
    drain.start()
    try:
        code = proc.wait(300)
    finally:
        group.stop(proc)
    drain.join(30)
    output = drain.output
    begin_match = BEGIN_RE.search(output)
    if begin_match is None or drain.end_at is None:
        raise RuntimeError(f"{argv[:3]}: no BEGIN/END in output (exit {code}): {output[-500:]!r}")
    begin = float(begin_match.group(1))
    found, in_order = check_sequence(output, lines)
    relay = drain.end_at - begin
    return {
        "relay_s": relay,
        "wall_s": drain.end_at - launched,
        "lines_per_s": lines / relay,
        "lines_found": found,
        "in_order": in_order,
        "exit": code,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-honcho", action="store_true")
    args = parser.parse_args()
    load_before = load_average()
    honcho = None if args.no_honcho else shutil_which("honcho")
    runs: dict[str, list[dict[str, Any]]] = {"raw pipe": [], "devenv": []}
    if honcho:
        runs["honcho"] = []
    log_checks: list[dict[str, Any]] = []
    with workdir("relay") as base, Group() as group:
        (base / "producer.py").write_text(PRODUCER)
        (base / "compose.yaml").write_text(COMPOSE.format(python=PYTHON, lines=args.lines))
        (base / "Procfile").write_text(f"web: {PYTHON} producer.py {args.lines}\n")
        env = env_for_devenv()
        env["PYTHONUNBUFFERED"] = "1"  # as devenv sets it for its services
        env["DEVENV_LOG_FILE_MB"] = "64"  # room for every line, to check them all
        for _ in range(args.repeat):
            runs["raw pipe"].append(
                run_one(group, [PYTHON, "producer.py", str(args.lines)], base, env, args.lines)
            )
            log_dir = base / ".devenv" / "logs"
            for old in log_dir.glob("web.log*"):
                old.unlink()
            runs["devenv"].append(
                run_one(group, [*DEVENV, "start", "--no-tui"], base, env, args.lines)
            )
            log_checks.append(check_log_file(log_dir, args.lines))
            if honcho:
                runs["honcho"].append(run_one(group, [honcho, "start"], base, env, args.lines))

    def best(name: str) -> dict[str, Any]:
        return min(runs[name], key=lambda r: r["relay_s"])

    honcho_rate = best("honcho")["lines_per_s"] if honcho else None
    rows = []
    for name, results in runs.items():
        fastest = best(name)
        rows.append(
            [
                name,
                " / ".join(f"{r['relay_s']:.3f}" for r in results),
                fastest["lines_per_s"] / 1000,
                f"{fastest['lines_per_s'] / honcho_rate:.1f}x" if honcho_rate else "-",
                " / ".join(f"{r['wall_s']:.3f}" for r in results),
                "yes"
                if all(r["lines_found"] == args.lines and r["in_order"] for r in results)
                else "NO",
            ]
        )
    print(
        table(
            [
                "runner",
                "relay s (each run)",
                "best k lines/s",
                "vs honcho",
                "wall s from launch",
                "all lines",
            ],
            rows,
        )
    )
    for check in log_checks:
        print(
            f"devenv log file: {check['lines_in_file']} lines, complete: {check['complete']}, "
            f"from #{check['first']}, unbroken: {check['unbroken']}, "
            f"ends at the last: {check['ends_at_last']}"
        )
    print(f"({args.lines} lines; load {load_before} -> {load_average()})")
    dev = best("devenv")
    verdict = [
        f"devenv >= {TARGET_RATE / 1000:.0f}k lines/s: "
        + ("ok" if dev["lines_per_s"] >= TARGET_RATE else "MISSED"),
        "no line lost: "
        + (
            "ok"
            if all(r["lines_found"] == args.lines and r["in_order"] for r in runs["devenv"])
            else "MISSED"
        ),
        "every line in the log file: "
        + (
            "ok"
            if all(c["complete"] for c in log_checks)
            else "only an unbroken tail (file cap)"
            if all(c["unbroken"] and c["ends_at_last"] for c in log_checks)
            else "MISSED"
        ),
    ]
    if honcho_rate:
        verdict.append(
            "devenv >= 10x honcho: "
            + ("ok" if dev["lines_per_s"] >= 10 * honcho_rate else "MISSED")
        )
    for line in verdict:
        print(line)
    path = write_results(
        "log_relay",
        {
            "load_before": load_before,
            "lines": args.lines,
            "runs": runs,
            "log_file": log_checks,
            "verdict": verdict,
        },
    )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
