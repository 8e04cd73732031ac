"""The x-devenv schema: every key's checks, each error naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import load, write

from devenv.config.model import LocalProcess, WatchRule
from devenv.errors import ConfigError


def stack_with(block: str, tmp_path: Path, extra: dict[str, str] | None = None) -> object:
    write(
        tmp_path, {"compose.yaml": f"services:\n  api:\n    x-devenv: {block}\n", **(extra or {})}
    )
    return load(tmp_path)


@pytest.mark.parametrize(
    ("block", "key", "message"),
    [
        ("[run, x]", "x-devenv", "must be a mapping"),
        ("{run: ''}", "x-devenv.run", "must not be empty"),
        ("{run: {a: 1}}", "x-devenv.run", "must be a string"),
        ("{run: x, shell: maybe}", "x-devenv.shell", "true or false"),
        ("{run: x, cwd: [a]}", "x-devenv.cwd", "must be a string"),
        ("{run: x, environment: 5}", "x-devenv.environment", "mapping or a list"),
        ("{run: x, environment: {A: [1]}}", "x-devenv.environment.A", "must be a string"),
        ("{run: x, env_file: nope.env}", "x-devenv.env_file[0]", "not found"),
        ("{run: x, ports: 3000}", "x-devenv.ports", "list of port numbers"),
        ("{run: x, ports: [70000]}", "x-devenv.ports[0]", "between 1 and 65535"),
        ("{run: x, ready: http}", "x-devenv.ready", "must be a mapping"),
        ("{run: x, ready: {}}", "x-devenv.ready", "exactly one of"),
        ("{run: x, ready: {http: 'http://a', tcp: 1}}", "x-devenv.ready", "give only one"),
        ("{run: x, ready: {http: 'localhost:3000'}}", "x-devenv.ready.http", "not an http"),
        ("{run: x, ready: {tcp: 'host'}}", "x-devenv.ready.tcp", "port or host:port"),
        ("{run: x, ready: {tcp: 'h:99999'}}", "x-devenv.ready.tcp", "not a valid port"),
        ("{run: x, ready: {log: '(unclosed'}}", "x-devenv.ready.log", "regular expression"),
        ("{run: x, ready: {tcp: 1, status: 200}}", "x-devenv.ready.status", "only applies"),
        ("{run: x, ready: {http: 'http://a', status: 1000}}", "x-devenv.ready.status", "100"),
        ("{run: x, ready: {cmd: 'true', interval: soon}}", "x-devenv.ready.interval", "duration"),
        ("{run: x, ready: {cmd: 'true', retries: -1}}", "x-devenv.ready.retries", "between"),
        (
            "{run: x, ready: {cmd: 'true', timout: 1s}}",
            "x-devenv.ready.timout",
            "did you mean timeout?",
        ),
        ("{run: x, watch: {a: 1}}", "x-devenv.watch", "list of strings"),
        ("{run: x, ignore: [1]}", "x-devenv.ignore[0]", "must be a string"),
        ("{run: x, replicas: two}", "x-devenv.replicas", "whole number"),
        ("{run: x, restart: unless-stopped}", "x-devenv.restart", "no, on-failure or always"),
        ("{run: x, replica: 2}", "x-devenv.replica", "did you mean replicas?"),
        ("{run: x, build: []}", "x-devenv.build", "not an empty list"),
        ("{run: x, build: {run: y}}", "x-devenv.build", "a command or a list of steps"),
        ("{run: x, build: ''}", "x-devenv.build", "must not be empty"),
        ("{run: x, build: 'go \"build'}", "x-devenv.build", "cannot split"),
        ("{run: x, build: [[go, build]]}", "x-devenv.build[0]", "must be a step"),
        ("{run: x, build: [{shell: true}]}", "x-devenv.build[0]", "needs `run`"),
        ("{run: x, build: [{run: y, shell: sometimes}]}", "x-devenv.build[0].shell", "true or"),
        ("{run: x, build: [{run: y, when: {a: 1}}]}", "x-devenv.build[0].when", "list of"),
        ("{run: x, build: [{run: y, when: []}]}", "x-devenv.build[0].when", "at least one"),
        ("{run: x, build: [{run: [], when: [a]}]}", "x-devenv.build[0].run", "not be empty"),
        ("{run: x, build: [{run: [go, [x]]}]}", "x-devenv.build[0].run[1]", "be a string"),
        ("{run: x, buld: y}", "x-devenv.buld", "did you mean build?"),
        ("{run: x, mode: both}", "x-devenv.mode", "use local or container"),
        ("{run: x, mode: container}", "x-devenv.mode", "needs the service's `image`"),
        ("{run: x, rewrite: sometimes}", "x-devenv.rewrite", "true or false"),
        ("{run: x, handover: hold}", "x-devenv.handover", "unknown handover"),
        ("{run: x, handover: proxy}", "x-devenv.handover", "needs x-devenv.ports"),
        ("{run: x, ready: {tcp: 1, health_interval: -1s}}", "x-devenv.ready.health_interval", ""),
        ("{mode: local}", "x-devenv.run", "needs `run`"),
        ("{rewrite: false, cwd: a}", "x-devenv.run", "needs `run`"),
        ("{}", "x-devenv.run", "needs `run`"),
    ],
)
def test_bad_blocks(tmp_path: Path, block: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        stack_with(block, tmp_path)
    error = caught.value
    assert error.service == "api"
    assert error.key == key
    assert message in str(error)
    assert error.file is not None and error.file.endswith("compose.yaml")
    assert error.line == 3


def test_values_are_interpolated_and_typed(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n  api:\n    x-devenv:\n"
            "      run: serve --port ${PORT}\n      ports: ['${PORT}']\n"
            "      replicas: '${N}'\n      shell: '${SHELLY}'\n"
            "      ready: {tcp: '${PORT}', timeout: '${T}'}\n"
        },
    )
    api = load(tmp_path, {"PORT": "4000", "N": "2", "SHELLY": "true", "T": "250ms"}).service("api")
    assert api.local is not None
    assert api.local.run == "serve --port 4000"
    assert api.local.ports == (4000,)
    assert api.local.replicas == 2
    assert api.local.shell is True
    assert api.local.ready is not None
    assert (api.local.ready.target, api.local.ready.timeout) == ("127.0.0.1:4000", 0.25)
    assert api.local.raw["ports"] == ["4000"]  # as written, after interpolation


def test_a_process_service_needs_no_image_but_may_have_one(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"compose.yaml": "services:\n  a:\n    image: app\n    x-devenv: {run: x}\n"},
    )
    service = load(tmp_path).service("a")
    assert service.kind == "process"
    assert service.image == "app"


def test_defaults(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": "services:\n  a:\n    x-devenv: {run: x}\n"})
    local = load(tmp_path).service("a").local
    assert local is not None
    assert (local.cwd, local.shell, local.replicas, local.restart) == (tmp_path, False, 1, "no")
    assert (local.ports, local.watch, local.ignore, local.ready) == ((), (), (), None)


def local_of(block: str, tmp_path: Path, service: str = "api", head: str = "") -> LocalProcess:
    write(tmp_path, {"compose.yaml": f"services:\n  {service}:\n{head}    x-devenv: {block}\n"})
    local = load(tmp_path).service(service).local
    assert local is not None
    return local


@pytest.mark.parametrize(
    ("block", "steps"),
    [
        ("{run: x, build: go build -o 'bin/my api' .}", [("go", "build", "-o", "bin/my api", ".")]),
        ("{run: x, build: [go, build, ./...]}", [("go", "build", "./...")]),
        (
            "{run: x, build: [{run: npm ci}, {run: 'tsc -p . && echo ok', shell: true}]}",
            [("npm", "ci"), ("/bin/sh", "-c", "tsc -p . && echo ok")],
        ),
        ("{run: x, build: [{run: [cargo, build, --release]}]}", [("cargo", "build", "--release")]),
        ("{run: x, build: [{run: [echo, 'a b'], shell: true}]}", [("/bin/sh", "-c", "echo 'a b'")]),
    ],
)
def test_build_shapes(tmp_path: Path, block: str, steps: list[tuple[str, ...]]) -> None:
    local = local_of(block, tmp_path)
    assert [step.argv for step in local.build] == steps
    assert all(step.when == () for step in local.build)


def test_build_when_paths_are_watched_and_resolved(tmp_path: Path) -> None:
    local = local_of(
        "{run: x, cwd: app, watch: [src], build: ["
        "{run: uv sync, when: [pyproject.toml, uv.lock]}, {run: make, when: src}]}",
        tmp_path,
    )
    sync, make = local.build
    assert sync.run == "uv sync" and sync.when == (
        tmp_path / "pyproject.toml",
        tmp_path / "uv.lock",
    )
    assert make.when == (tmp_path / "src",)
    # src is watched once (the x-devenv rule); the lock files get rebuild rules of their own
    assert [(r.path.name, r.action, r.source) for r in local.watch_rules] == [
        ("src", "rebuild", "x-devenv"),
        ("pyproject.toml", "rebuild", "x-devenv"),
        ("uv.lock", "rebuild", "x-devenv"),
    ]
    assert local.watch == tuple(r.path for r in local.watch_rules)


def test_develop_watch_keeps_each_entrys_action_and_ignores(tmp_path: Path) -> None:
    head = (
        "    develop:\n      watch:\n"
        "        - {path: ./frontend, action: rebuild, ignore: [node_modules/]}\n"
        "        - {path: ./backend, action: sync+restart, target: /app, include: '*.py'}\n"
        "        - {path: ./schema, action: sync+exec, target: /s, exec: {command: make gen}}\n"
        "        - {path: ./static, action: sync, target: /static}\n"
    )
    local = local_of("{run: x, watch: [lib], ignore: ['*.tmp']}", tmp_path, head=head)
    rules = {rule.path.name: rule for rule in local.watch_rules}
    assert rules["lib"] == WatchRule(tmp_path / "lib", "rebuild", ("*.tmp",))
    assert rules["frontend"] == WatchRule(
        tmp_path / "frontend", "rebuild", ("node_modules/", "*.tmp"), source="develop"
    )
    assert rules["backend"].action == "sync+restart" and rules["backend"].include == ("*.py",)
    assert rules["schema"].exec == ("make", "gen")
    assert rules["static"].action == "sync" and rules["static"].exec is None
    assert local.watch == tuple(
        tmp_path / n for n in ("lib", "frontend", "backend", "schema", "static")
    )
    assert local.ignore == ("*.tmp",)  # x-devenv's own list; develop's stay on their rules


def test_mode_rewrite_handover_and_health_interval(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n"
            "  api:\n    image: api\n    x-devenv:\n      run: x\n      mode: container\n"
            "      ports: [3000]\n      handover: true\n      rewrite: 'false'\n"
            "      ready: {tcp: 3000, health_interval: 0}\n"
            "  web:\n    build: .\n    x-devenv: {run: y, ports: [4000], handover: socket}\n"
            "  db:\n    image: pg\n    x-devenv: {rewrite: false}\n"
            "  tool:\n    x-devenv: {run: z}\n"
        },
    )
    stack = load(tmp_path)
    api, web, db, tool = (stack.service(n) for n in ("api", "web", "db", "tool"))
    assert (api.mode, api.kind, api.kinds, api.rewrite) == (
        "container",
        "container",
        ("process", "container"),
        False,
    )
    assert api.local is not None and api.local.handover == "proxy"
    assert api.local.ready is not None and api.local.ready.health_interval == 0.0
    assert (web.kind, web.kinds, web.rewrite) == ("process", ("process", "container"), True)
    assert web.local is not None and web.local.handover == "socket"
    assert (db.local, db.kind, db.kinds, db.rewrite) == (None, "container", ("container",), False)
    assert (tool.kind, tool.kinds) == ("process", ("process",))
    assert tool.local is not None and tool.local.handover == "off" and tool.local.build == ()


def test_ready_health_interval_defaults_to_ten_seconds(tmp_path: Path) -> None:
    local = local_of("{run: x, ready: {http: 'http://127.0.0.1:1/'}}", tmp_path)
    assert local.ready is not None and local.ready.health_interval == 10.0


def test_container_mode_has_no_local_only_warnings(tmp_path: Path) -> None:
    """Compose ports and healthcheck are what the container uses: no warning when the
    service runs as a container by default, one when it runs locally."""
    service = (
        "    image: x\n    ports: ['8080:80']\n    healthcheck: {test: [CMD, 'true']}\n"
        "    x-devenv: {run: x%s}\n"
    )
    write(tmp_path, {"compose.yaml": "services:\n  a:\n" + service % ", mode: container"})
    assert load(tmp_path).warnings == ()
    write(tmp_path, {"compose.yaml": "services:\n  a:\n" + service % ""})
    assert len(load(tmp_path).warnings) == 2


def test_replicas_default_to_composes(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": (
                Path(__file__).parents[2] / "conformance" / "fixtures" / "replicas" / "compose.yaml"
            ).read_text()
        },
    )
    stack = load(tmp_path)
    counts = {
        name: (
            s.replicas,
            s.local.replicas if s.local else None,
            s.replica_count("process") if s.local else None,
            s.replica_count("container"),
        )
        for name, s in stack.services.items()
    }
    assert counts == {
        "worker": (3, 3, 3, 3),
        "scaled": (2, 2, 2, 2),
        "both": (2, None, None, 2),
        "idle": (0, 0, 0, 0),
        "off": (0, None, None, 0),
        "own": (4, 1, 1, 4),
    }
    idle = stack.service("idle")
    assert idle.replica_count() == 0
    assert load(tmp_path, {"IDLE_LOCAL": "2"}).service("idle").replica_count() == 2
    worker = stack.service("worker")
    assert [worker.unit_name(n) for n in (1, 2, 3)] == ["worker-1", "worker-2", "worker-3"]
