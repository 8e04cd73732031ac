"""Reload latency: from a file write to the NEW instance answering on its port.

The service is a tiny stdlib `http.server` (`app/service.py`) that answers
`GET /` with `<VERSION> <pid>` and appends its pid to `starts.log` when it
starts. A run rewrites `VERSION = N` in service.py and polls the port (a fresh
connection every millisecond) until the answer carries the new N: that is the
time a developer waits after saving. Three reloaders watch the same kind of
project side by side, each in its own directory on its own port, and runs are
interleaved (devenv, watchfiles, nodemon, devenv, ...) so machine load hits all
alike:

- devenv: the real CLI, `python -m devenv start --no-tui` on a compose.yaml
  whose service has `x-devenv: {run, ports, watch: [app/]}`;
- the `watchfiles` CLI: `watchfiles 'python app/service.py PORT' app`;
- `nodemon --watch app --ext py --exec 'python app/service.py PORT'`
  (installed on demand with npm into ~/.cache/devenv-bench/node);
- `entr -nr python app/service.py PORT` fed `find app -name '*.py'`, when
  installed (`apt-get install entr`; skipped otherwise).

Then bursts: 200 writes to service.py within 100 ms (a `git checkout`, a
formatter run); the number of instance starts each burst causes is counted from
starts.log once nothing has started for 2.5 s, and the final version must be
the one served.

Targets: devenv p50 <= the best peer's p50; exactly one restart per burst.

    python bench/reload_latency.py [--runs 20] [--bursts 5] [--only devenv,watchfiles,nodemon,entr]
                                   [--alt-src OTHER_CHECKOUT] [--alt-env KEY=VALUE]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import (
    DEVENV,
    PYTHON,
    Group,
    env_for_devenv,
    free_port,
    load_average,
    nodemon_bin,
    percentile,
    served,
    shutil_which,
    table,
    wait_for,
    workdir,
    write_results,
)

SERVICE = """\
import http.server
import os
import sys

VERSION = 0

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "starts.log"), "a") as f:
    f.write(f"{os.getpid()}\\n")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{VERSION} {os.getpid()}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""

COMPOSE = """\
services:
  web:
    x-devenv:
      run: {python} app/service.py {port}
      ports: [{port}]
      watch: [app/]
  # Before c5c5f5e, `devenv start --no-tui` on a stack whose only services are
  # watched exited on the first reload (Engine.settled() did not count a unit in
  # the middle of a reload); this unwatched service kept it alive. Kept so older
  # checkouts can still be compared with --alt-src.
  sidecar:
    x-devenv:
      run: {python} -c "import time; time.sleep(1e9)"
"""

VERSION_RE = re.compile(r"^VERSION = \d+$", re.MULTILINE)


@dataclass
class Tool:
    name: str
    root: Path
    port: int
    version: int = 0
    latencies: list[float] = field(default_factory=list)
    single_starts: list[int] = field(default_factory=list)
    burst_starts: list[int] = field(default_factory=list)
    burst_final_ok: list[bool] = field(default_factory=list)
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] | None = None

    @property
    def service(self) -> Path:
        return self.root / "app" / "service.py"

    def starts(self) -> int:
        try:
            return len((self.root / "starts.log").read_text().split())
        except FileNotFoundError:
            return 0

    def write_version(self, version: int) -> None:
        self.version = version
        text = VERSION_RE.sub(f"VERSION = {version}", SERVICE)
        with open(self.service, "w") as f:  # one write, as an editor saving does
            f.write(text)

    def serving(self) -> int | None:
        body = served(self.port)
        return int(body.split()[0]) if body else None


def make_project(root: Path, port: int) -> None:
    (root / "app").mkdir(parents=True)
    (root / "app" / "service.py").write_text(SERVICE)
    (root / "compose.yaml").write_text(COMPOSE.format(python=PYTHON, port=port))


def reload_once(tool: Tool, timeout: float = 10.0) -> float:
    target = tool.version + 1
    before = tool.starts()
    begin = time.perf_counter()
    tool.write_version(target)
    deadline = begin + timeout
    while True:
        body = served(tool.port, timeout=0.2)
        now = time.perf_counter()
        if body is not None and body.split()[0] == str(target):
            latency = now - begin
            break
        if now > deadline:
            raise TimeoutError(f"{tool.name}: version {target} not served after {timeout:g}s")
        time.sleep(0.001)
    settle(tool)
    tool.single_starts.append(tool.starts() - before)
    return latency


def settle(tool: Tool, quiet: float = 0.6, limit: float = 10.0) -> None:
    """Wait until no instance has started for `quiet` seconds and one answers."""
    end = time.monotonic() + limit
    count, since = tool.starts(), time.monotonic()
    while time.monotonic() < end:
        time.sleep(0.05)
        now_count = tool.starts()
        if now_count != count:
            count, since = now_count, time.monotonic()
        elif time.monotonic() - since >= quiet and tool.serving() is not None:
            return


def burst(tool: Tool, writes: int = 200, span: float = 0.1) -> None:
    before = tool.starts()
    begin = time.perf_counter()
    for index in range(writes):
        # pace the writes evenly over `span`
        while time.perf_counter() < begin + index * span / writes:
            pass
        tool.write_version(tool.version + 1)
    settle(tool, quiet=2.5, limit=20.0)
    tool.burst_starts.append(tool.starts() - before)
    tool.burst_final_ok.append(tool.serving() == tool.version)


def cold_start(group: Group, root: Path, port: int) -> float:
    """The floor: spawn the service directly and wait for its first answer (what
    any reloader adds on top of this is its own cost)."""
    begin = time.perf_counter()
    proc = group.popen([PYTHON, "app/service.py", str(port)], cwd=root)
    while served(port, timeout=0.2) is None:
        if time.perf_counter() - begin > 10:
            raise TimeoutError("the service did not answer within 10 s")
        time.sleep(0.001)
    elapsed = time.perf_counter() - begin
    group.stop(proc)
    group.procs.remove(proc)
    return elapsed


def launch(group: Group, tool: Tool) -> Any:
    log = open(tool.root / "tool.log", "wb")  # noqa: SIM115 (closed with the process)
    proc = group.popen(tool.argv, cwd=tool.root, stdout=log, stderr=log, env=tool.env)
    wait_for(lambda: tool.serving() == 0, 30, what=f"{tool.name} to answer")
    time.sleep(1.0)  # let the watcher arm itself (inotify set-up, chokidar scan)
    return proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--only", default="devenv,watchfiles,nodemon,entr")
    parser.add_argument(
        "--alt-src", help="also run devenv from this checkout's root, as devenv-alt (A/B)"
    )
    parser.add_argument(
        "--alt-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="also run devenv with this variable set, as devenv-alt (e.g. DEVENV_WATCH_STEP_MS=20)",
    )
    args = parser.parse_args()
    wanted = args.only.split(",")
    if args.alt_src or args.alt_env:
        wanted.insert(wanted.index("devenv") + 1 if "devenv" in wanted else 0, "devenv-alt")
    load_before = load_average()
    with workdir("reload") as base, Group() as group:
        tools: list[Tool] = []
        for name in wanted:
            root = base / name
            port = free_port()
            make_project(root, port)
            tool = Tool(name, root, port)
            service = ["python", "app/service.py", str(port)]
            if name == "devenv":
                tool.argv = [*DEVENV, "start", "--no-tui"]
                tool.env = env_for_devenv()
            elif name == "devenv-alt":
                tool.argv = [*DEVENV, "start", "--no-tui"]
                tool.env = env_for_devenv(args.alt_src)
                tool.env.update(item.split("=", 1) for item in args.alt_env)
            elif name == "watchfiles":
                binary = shutil_which("watchfiles")
                if binary is None:
                    print("watchfiles CLI not found; skipped", file=sys.stderr)
                    continue
                tool.argv = [binary, " ".join(service), "app"]
            elif name == "entr":
                if shutil_which("entr") is None:
                    print("entr not installed (apt-get install entr); skipped", file=sys.stderr)
                    continue
                # entr reads the files to watch on stdin; -n: no tty, -r: restart a server
                tool.argv = [
                    "sh",
                    "-c",
                    f"find app -name '*.py' | exec entr -nr {' '.join(service)}",
                ]
            elif name == "nodemon":
                nodemon = nodemon_bin()
                if nodemon is None:
                    print("nodemon not installable (npm missing?); skipped", file=sys.stderr)
                    continue
                tool.argv = [
                    str(nodemon),
                    "--watch",
                    "app",
                    "--ext",
                    "py",
                    "--exec",
                    " ".join(service),
                ]
            else:
                parser.error(f"unknown tool {name}")
            tools.append(tool)
        procs = {tool.name: launch(group, tool) for tool in tools}
        for tool in tools:  # warm-up reload, not counted
            reload_once(tool)
            tool.single_starts.clear()
        floor_root, floor_port = base / "floor", free_port()
        make_project(floor_root, floor_port)
        floor: list[float] = []
        for _ in range(args.runs):
            floor.append(cold_start(group, floor_root, floor_port))
            for tool in tools:
                tool.latencies.append(reload_once(tool))
        for _ in range(args.bursts):
            for tool in tools:
                burst(tool)
        for tool in tools:
            group.stop(procs[tool.name])

    best_peer = min(
        (percentile(t.latencies, 0.5) for t in tools if not t.name.startswith("devenv")),
        default=None,
    )
    rows: list[list[Any]] = [
        [
            "floor: spawn->answer",
            percentile(floor, 0.5) * 1000,
            percentile(floor, 0.9) * 1000,
            min(floor) * 1000,
            max(floor) * 1000,
            "-",
            "-",
            "-",
            "-",
            "-",
        ]
    ]
    floor_p50 = percentile(floor, 0.5)
    results: dict[str, Any] = {
        "floor_spawn_to_answer": {
            "latencies_ms": [round(v * 1000, 2) for v in floor],
            "p50_ms": round(percentile(floor, 0.5) * 1000, 2),
            "p90_ms": round(percentile(floor, 0.9) * 1000, 2),
        }
    }
    for tool in tools:
        p50, p90 = percentile(tool.latencies, 0.5), percentile(tool.latencies, 0.9)
        rows.append(
            [
                tool.name,
                p50 * 1000,
                p90 * 1000,
                min(tool.latencies) * 1000,
                max(tool.latencies) * 1000,
                f"{p50 / best_peer:.2f}" if best_peer else "-",
                (p50 - floor_p50) * 1000,
                "/".join(map(str, tool.single_starts[:10]))
                + ("…" if len(tool.single_starts) > 10 else ""),
                "/".join(map(str, tool.burst_starts)),
                "yes" if all(tool.burst_final_ok) else "NO",
            ]
        )
        results[tool.name] = {
            "latencies_ms": [round(v * 1000, 2) for v in tool.latencies],
            "p50_ms": round(p50 * 1000, 2),
            "p90_ms": round(p90 * 1000, 2),
            "starts_per_single_write": tool.single_starts,
            "starts_per_burst": tool.burst_starts,
            "burst_final_version_served": tool.burst_final_ok,
        }
    print(
        table(
            [
                "reloader",
                "p50 ms",
                "p90 ms",
                "min ms",
                "max ms",
                "p50/best peer",
                "p50-floor ms",
                "starts/write",
                "starts/burst",
                "final ok",
            ],
            rows,
        )
    )
    print(
        f"({args.runs} reloads each, {args.bursts} bursts of 200 writes in 100 ms;"
        f" load {load_before} -> {load_average()})"
    )
    verdict = []
    if "devenv" in results:
        dev = results["devenv"]
        if best_peer is not None:
            ok = dev["p50_ms"] <= best_peer * 1000
            verdict.append(
                f"reload p50 <= best peer ({best_peer * 1000:.1f} ms): {'ok' if ok else 'MISSED'}"
            )
        ok = all(n == 1 for n in dev["starts_per_burst"])
        verdict.append(f"exactly one restart per burst: {'ok' if ok else 'MISSED'}")
    for line in verdict:
        print(line)
    path = write_results(
        "reload_latency",
        {
            "load_before": load_before,
            "runs": args.runs,
            "bursts": args.bursts,
            "tools": results,
            "verdict": verdict,
        },
    )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
