"""Build-and-reload latency: from an edit of a compiled service's source to the
NEW instance answering on its port, for a Go service (`go build`) and a
TypeScript service (an esbuild bundle run by node).

Each scenario is a tiny HTTP server that answers `GET /` with
`<VERSION> <pid>` and appends its pid to starts.log when it starts; its build
command appends a line to builds.log before it compiles. A run rewrites the
VERSION constant in the source and polls the port (a fresh connection every
millisecond, once the new instance has written starts.log: see POLL_DURING_BUILD)
until the answer carries the new number. Side by side, each in its
own directory on its own port, runs interleaved:

- devenv: `python -m devenv start --no-tui` on a compose.yaml whose service has
  `x-devenv: {build, run, ports, watch}`: the build runs while the old
  instance keeps serving, then the new one replaces it;
- nodemon running the same build-and-run command, as people use it for
  compiled services (`nodemon --signal SIGTERM --watch app --ext go --exec
  'BUILD && exec RUN'`):
  the old instance stops, the build runs, the new one starts;
- floor: the build command run directly after the edit, then the service
  spawned and waited for (what any reloader adds is on top of this).

Then bursts: 200 writes to the source within 100 ms (a `git checkout`, a
formatter); builds and starts per burst are counted once nothing has started
for 3 s, and the last version must be the one served.

Targets (issue 8): devenv p50 <= nodemon's p50 (ratio <= 1.0); one build per
burst. Needs go (Debian's golang-go) and npm (nodemon and esbuild are
installed on demand into ~/.cache/devenv-bench/node).

    python bench/build_reload.py [--runs 30] [--bursts 3] [--only go,node]
                                 [--tools devenv,nodemon] [--alt-src OTHER_CHECKOUT]
                                 [--poll-during-build]
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import (
    DEVENV,
    Group,
    env_for_devenv,
    free_port,
    load_average,
    nodemon_bin,
    percentile,
    served,
    shutil_which,
    table,
    workdir,
    write_results,
)

GO_SOURCE = """\
package main

import (
\t"fmt"
\t"net/http"
\t"os"
)

const version = 0

func main() {
\tf, _ := os.OpenFile("starts.log", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
\tfmt.Fprintf(f, "%d\\n", os.Getpid())
\tf.Close()
\thttp.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
\t\tfmt.Fprintf(w, "%d %d", version, os.Getpid())
\t})
\tpanic(http.ListenAndServe("127.0.0.1:"+os.Args[1], nil))
}
"""

TS_SOURCE = """\
import { appendFileSync } from "node:fs";
import { createServer } from "node:http";

const version: number = 0;

appendFileSync("starts.log", `${process.pid}\\n`);
createServer((_req, res) => res.end(`${version} ${process.pid}`)).listen(
  Number(process.argv[2]),
  "127.0.0.1",
);
"""

COMPOSE = """\
services:
  web:
    x-devenv:
      build:
        - {{run: {build}, shell: true}}
      run: {run}
      ports: [{port}]
      watch: [app/]
"""

VERSION_RE = re.compile(r"(const version(?:: number)? = )\d+")


@dataclass
class Scenario:
    name: str
    source: str  # path of the edited file, relative to the project
    text: str
    ext: str  # nodemon --ext
    build: Callable[[Path], str]  # the build command (a shell line), given the tools' dir
    run: str  # the run command, `{port}` filled in


def go_scenario() -> Scenario:
    return Scenario(
        name="go",
        source="app/main.go",
        text=GO_SOURCE,
        ext="go",
        build=lambda _tools: "echo build >> builds.log && go build -o bin/app ./app",
        run="./bin/app {port}",
    )


def node_scenario() -> Scenario:
    return Scenario(
        name="node",
        source="app/app.ts",
        text=TS_SOURCE,
        ext="ts",
        build=lambda tools: (
            f"echo build >> builds.log && {shlex.quote(str(tools / 'esbuild'))} app/app.ts"
            " --bundle --platform=node --log-level=warning --outfile=dist/app.js"
        ),
        run="node dist/app.js {port}",
    )


@dataclass
class Tool:
    name: str
    root: Path
    port: int
    scenario: Scenario
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] | None = None
    version: int = 0
    latencies: list[float] = field(default_factory=list)
    builds_per_edit: list[int] = field(default_factory=list)
    burst_builds: list[int] = field(default_factory=list)
    burst_starts: list[int] = field(default_factory=list)
    burst_final_ok: list[bool] = field(default_factory=list)
    error: str | None = None
    proc: Any = None

    def count(self, name: str) -> int:
        try:
            return len((self.root / name).read_text().split())
        except FileNotFoundError:
            return 0

    def write_version(self, version: int) -> None:
        self.version = version
        text = VERSION_RE.sub(rf"\g<1>{version}", self.scenario.text)
        with open(self.root / self.scenario.source, "w") as f:  # one write, as an editor's save
            f.write(text)

    def serving(self) -> int | None:
        body = served(self.port)
        return int(body.split()[0]) if body else None

    def log_tail(self) -> str:
        try:
            return (self.root / "tool.log").read_text(errors="replace")[-1500:]
        except FileNotFoundError:
            return ""


class ToolFailed(Exception):
    pass


def make_project(root: Path, scenario: Scenario, port: int, tools: Path) -> None:
    (root / "app").mkdir(parents=True)
    (root / scenario.source).write_text(scenario.text)
    if scenario.name == "go":
        (root / "go.mod").write_text("module bench\n\ngo 1.19\n")
    run = scenario.run.format(port=port)
    (root / "compose.yaml").write_text(
        COMPOSE.format(build=_yaml_str(scenario.build(tools)), run=run, port=port)
    )


def _yaml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# Requests at 1000/s to the old instance while the build runs take CPU from the
# build on a small machine (go build: ~50 ms slower on 2 cores), and only from a
# reloader that keeps the old instance serving. So by default the port is asked
# once the new instance has started (it writes starts.log first thing), as the
# floor's is; --poll-during-build asks from the edit on.
POLL_DURING_BUILD = False


def wait_serving(tool: Tool, version: int, timeout: float, starts: int | None = None) -> float:
    """Seconds until `version` is served (polling every ms; with `starts`, the
    count of starts.log before the edit, the port only once it has grown)."""
    begin = time.perf_counter()
    while starts is not None and not POLL_DURING_BUILD and tool.count("starts.log") <= starts:
        if tool.proc is not None and tool.proc.poll() is not None:
            raise ToolFailed(f"{tool.name} exited ({tool.proc.returncode})\n{tool.log_tail()}")
        if time.perf_counter() - begin > timeout:
            raise ToolFailed(f"{tool.name}: no new instance after {timeout:g}s")
        time.sleep(0.001)
    while True:
        body = served(tool.port, timeout=0.2)
        now = time.perf_counter()
        if body is not None and body.split()[0] == str(version):
            return now - begin
        if tool.proc is not None and tool.proc.poll() is not None:
            raise ToolFailed(f"{tool.name} exited ({tool.proc.returncode})\n{tool.log_tail()}")
        if now - begin > timeout:
            raise ToolFailed(f"{tool.name}: version {version} not served after {timeout:g}s")
        time.sleep(0.001)


def settle(tool: Tool, quiet: float, limit: float) -> None:
    """Wait until nothing has been built or started for `quiet` seconds and one answers."""
    end = time.monotonic() + limit
    counts = (tool.count("builds.log"), tool.count("starts.log"))
    since = time.monotonic()
    while time.monotonic() < end:
        time.sleep(0.05)
        now_counts = (tool.count("builds.log"), tool.count("starts.log"))
        if now_counts != counts:
            counts, since = now_counts, time.monotonic()
        elif time.monotonic() - since >= quiet and tool.serving() is not None:
            return


def reload_once(tool: Tool) -> float:
    before = tool.count("builds.log")
    starts = tool.count("starts.log")
    begin = time.perf_counter()
    tool.write_version(tool.version + 1)
    wait_serving(tool, tool.version, timeout=60, starts=starts)
    latency = time.perf_counter() - begin
    settle(tool, quiet=1.0, limit=30)
    tool.builds_per_edit.append(tool.count("builds.log") - before)
    return latency


def burst(tool: Tool, writes: int = 200, span: float = 0.1) -> None:
    builds, starts = tool.count("builds.log"), tool.count("starts.log")
    begin = time.perf_counter()
    for index in range(writes):
        while time.perf_counter() < begin + index * span / writes:
            pass
        tool.write_version(tool.version + 1)
    settle(tool, quiet=3.0, limit=60)
    tool.burst_builds.append(tool.count("builds.log") - builds)
    tool.burst_starts.append(tool.count("starts.log") - starts)
    tool.burst_final_ok.append(tool.serving() == tool.version)


def floor_once(
    group: Group, root: Path, scenario: Scenario, port: int, tools: Path, version: int
) -> float:
    """Edit, build, spawn, first answer: with no old instance and no watcher. A new
    version each time, so that the build compiles (as after a real edit)."""
    text = VERSION_RE.sub(rf"\g<1>{version}", scenario.text)
    begin = time.perf_counter()
    (root / scenario.source).write_text(text)
    subprocess.run(["sh", "-c", scenario.build(tools)], cwd=root, check=True)
    proc = group.popen(shlex.split(scenario.run.format(port=port)), cwd=root)
    while (body := served(port, timeout=0.2)) is None or not body.startswith(f"{version} "):
        if time.perf_counter() - begin > 60:
            raise TimeoutError("the floor service did not answer within 60 s")
        time.sleep(0.001)
    elapsed = time.perf_counter() - begin
    group.stop(proc)
    group.procs.remove(proc)
    return elapsed


def launch(group: Group, tool: Tool) -> None:
    log = open(tool.root / "tool.log", "wb")  # noqa: SIM115 (closed with the process)
    tool.proc = group.popen(tool.argv, cwd=tool.root, stdout=log, stderr=log, env=tool.env)
    wait_serving(tool, 0, timeout=120)
    time.sleep(1.0)  # let the watcher arm itself (inotify set-up, chokidar scan)


def bench_tools() -> Path | None:
    """A directory holding `esbuild` and `nodemon` (npm, on demand, in the bench cache)."""
    nodemon = nodemon_bin()
    if nodemon is None:
        return None
    tools = nodemon.parent
    if not (tools / "esbuild").exists():
        npm = shutil_which("npm")
        assert npm is not None
        prefix = tools.parent.parent
        subprocess.run(
            [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "esbuild"],
            capture_output=True,
            timeout=300,
        )
    return tools if (tools / "esbuild").exists() else None


def run_scenario(
    scenario: Scenario, names: list[str], args: argparse.Namespace, tools: Path
) -> dict[str, Any]:
    load_before = load_average()
    with workdir(f"build-{scenario.name}") as base, Group() as group:
        all_tools: list[Tool] = []
        for name in names:
            port = free_port()
            tool = Tool(name, base / name, port, scenario)
            make_project(tool.root, scenario, port, tools)
            # `exec`: nodemon signals the shell it started; without exec the
            # service, the shell's child, would outlive it and keep the port.
            command = f"{scenario.build(tools)} && exec {scenario.run.format(port=port)}"
            if name in ("devenv", "devenv-alt"):
                tool.argv = [*DEVENV, "start", "--no-tui"]
                tool.env = env_for_devenv(args.alt_src if name == "devenv-alt" else None)
            elif name == "nodemon":
                tool.argv = [
                    str(tools / "nodemon"),
                    # SIGTERM, as devenv sends: nodemon's default SIGUSR2 is
                    # caught and ignored by Go programs.
                    *("--signal", "SIGTERM", "--watch", "app", "--ext", scenario.ext),
                    *("--exec", command),
                ]
            else:
                raise SystemExit(f"unknown tool {name}")
            all_tools.append(tool)
        live: list[Tool] = []
        for tool in all_tools:
            try:
                launch(group, tool)
                reload_once(tool)  # warm-up (build caches), not counted
                tool.builds_per_edit.clear()
                live.append(tool)
            except ToolFailed as error:
                tool.error = str(error)
                print(f"{scenario.name}/{tool.name}: failed to start\n{error}\n", file=sys.stderr)
        floor_root, floor_port = base / "floor", free_port()
        make_project(floor_root, scenario, floor_port, tools)
        floor: list[float] = []
        for run in range(args.runs):
            floor.append(floor_once(group, floor_root, scenario, floor_port, tools, run + 1))
            for tool in list(live):
                try:
                    tool.latencies.append(reload_once(tool))
                except ToolFailed as error:
                    tool.error = str(error)
                    live.remove(tool)
        for _ in range(args.bursts):
            for tool in live:
                burst(tool)
        for tool in all_tools:
            if tool.proc is not None:
                group.stop(tool.proc)
    return report(scenario, all_tools, floor, args, load_before)


def report(
    scenario: Scenario,
    tools: list[Tool],
    floor: list[float],
    args: argparse.Namespace,
    load_before: str,
) -> dict[str, Any]:
    nodemon = next((t for t in tools if t.name == "nodemon" and t.latencies), None)
    peer = percentile(nodemon.latencies, 0.5) if nodemon else None
    floor_p50 = percentile(floor, 0.5)
    rows: list[list[Any]] = [
        ["floor: edit->build->answer", floor_p50 * 1000, percentile(floor, 0.9) * 1000] + ["-"] * 5
    ]
    results: dict[str, Any] = {"floor_ms": [round(v * 1000, 1) for v in floor]}
    for tool in tools:
        if not tool.latencies:
            rows.append([tool.name, "-", "-", "-", "-", "-", "-", "FAILED (below)"])
            results[tool.name] = {"error": tool.error}
            continue
        p50, p90 = percentile(tool.latencies, 0.5), percentile(tool.latencies, 0.9)
        rows.append(
            [
                tool.name,
                p50 * 1000,
                p90 * 1000,
                f"{p50 / peer:.2f}" if peer else "-",
                (p50 - floor_p50) * 1000,
                "/".join(map(str, tool.burst_builds)),
                "/".join(map(str, tool.burst_starts)),
                "yes" if tool.burst_final_ok and all(tool.burst_final_ok) else "NO",
            ]
        )
        results[tool.name] = {
            "latencies_ms": [round(v * 1000, 1) for v in tool.latencies],
            "p50_ms": round(p50 * 1000, 1),
            "p90_ms": round(p90 * 1000, 1),
            "builds_per_edit": tool.builds_per_edit,
            "builds_per_burst": tool.burst_builds,
            "starts_per_burst": tool.burst_starts,
            "burst_final_version_served": tool.burst_final_ok,
            "error": tool.error,
        }
    print(f"\n{scenario.name}: edit -> the new instance answers")
    print(
        table(
            [
                "reloader",
                "p50 ms",
                "p90 ms",
                "p50/nodemon",
                "p50-floor ms",
                "builds/burst",
                "starts/burst",
                "final ok",
            ],
            rows,
        )
    )
    print(
        f"({len(floor)} edits each, {args.bursts} bursts of 200 writes in 100 ms;"
        f" load {load_before} -> {load_average()})"
    )
    for tool in tools:
        if tool.error:
            print(f"  {tool.name} failed: {_first(tool.error)}")
    verdict = []
    dev = results.get("devenv", {})
    if "p50_ms" in dev and peer is not None:
        ok = dev["p50_ms"] <= peer * 1000
        verdict.append(f"{scenario.name}: p50 <= nodemon's: {'ok' if ok else 'MISSED'}")
    if "builds_per_burst" in dev:
        ok = all(n == 1 for n in dev["builds_per_burst"])
        verdict.append(f"{scenario.name}: one build per burst: {'ok' if ok else 'MISSED'}")
    if dev.get("error"):
        verdict.append(f"{scenario.name}: devenv did not run: {_first(dev['error'])}")
    for line in verdict:
        print(line)
    results["verdict"] = verdict
    return results


def _first(text: str | None) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    for line in lines:
        if line.startswith("devenv:"):
            return line[:120]
    return (lines[0] if lines else "")[:120]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--bursts", type=int, default=3)
    parser.add_argument("--only", default="go,node", help="scenarios: go, node")
    parser.add_argument("--tools", default="devenv,nodemon")
    parser.add_argument("--alt-src", help="also run devenv from this checkout, as devenv-alt")
    parser.add_argument(
        "--poll-during-build",
        action="store_true",
        help="ask the port every ms from the edit on (loads the old instance during the build)",
    )
    args = parser.parse_args()
    global POLL_DURING_BUILD
    POLL_DURING_BUILD = args.poll_during_build
    names = args.tools.split(",")
    if args.alt_src:
        names.insert(names.index("devenv") + 1 if "devenv" in names else 0, "devenv-alt")
    tools = bench_tools()
    if tools is None:
        print("nodemon/esbuild not installable (npm missing?)", file=sys.stderr)
        return 1
    scenarios = {"go": go_scenario, "node": node_scenario}
    results: dict[str, Any] = {}
    for name in args.only.split(","):
        if name == "go" and shutil_which("go") is None:
            print("go not installed (bash .ci/toolchains.sh); skipped", file=sys.stderr)
            continue
        results[name] = run_scenario(scenarios[name](), names, args, tools)
    path = write_results(
        "build_reload",
        {"load_before": load_average(), "runs": args.runs, "bursts": args.bursts, **results},
    )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
