"""How fast `devenv --help` and `devenv config --help` answer.

Each command runs N times as a fresh process, alternating with the baseline
`python -c pass` in the same run so machine load affects both alike. Prints the
median wall time of each and the difference to the baseline. Target: < 0.3 s.

    python bench/cli_startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = 0.3

COMMANDS = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "devenv --help": [sys.executable, "-m", "devenv", "--help"],
    "devenv config --help": [sys.executable, "-m", "devenv", "config", "--help"],
}


def once(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    for argv in COMMANDS.values():  # warm the file cache and .pyc files
        once(argv)
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, argv in COMMANDS.items():
            samples[name].append(once(argv))
    baseline = statistics.median(samples["python -c pass (baseline)"])
    print(f"{'command':<28}{'median':>9}{'min':>9}{'max':>9}{'- baseline':>12}  target")
    worst = 0.0
    for name, values in samples.items():
        median = statistics.median(values)
        verdict = "" if "baseline" in name else ("ok" if median < TARGET else "SLOW")
        if "baseline" not in name:
            worst = max(worst, median)
        print(
            f"{name:<28}{median:>8.3f}s{min(values):>8.3f}s{max(values):>8.3f}s"
            f"{median - baseline:>11.3f}s  {verdict}"
        )
    print(f"({args.runs} runs each, {sys.executable})")
    return 0 if worst < TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
