"""Loading real files from a temporary directory into the Stack model."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import load, run_cli, write

from devenv.config import Condition, LoadOptions, load_stack
from devenv.config.stack.port_clashes import host_port_clashes
from devenv.errors import ConfigError, SelectionError

DEMO = """\
services:
  postgres:
    image: postgres:16-alpine
    environment: {POSTGRES_USER: app, POSTGRES_PASSWORD: "${DB_PASSWORD:-dev}"}
    ports: ["5432:5432"]
    healthcheck: {test: ["CMD-SHELL", "pg_isready -U app"], interval: 10s}
  redis:
    image: redis:7-alpine
    healthcheck: {test: redis-cli ping, interval: 1m30s, timeout: 500ms, retries: 3}
  migrate:
    x-devenv: {run: python -m demo.migrate}
    depends_on: {postgres: {condition: service_healthy}}
  api:
    depends_on:
      migrate: {condition: service_completed_successfully}
      redis: {condition: service_healthy}
    x-devenv:
      run: python -m demo.api --port 3000
      environment: {DB_HOST: localhost}
      ports: [3000]
      ready: {http: "http://localhost:3000/health"}
      watch: [demo/]
      ignore: ["*.pyc"]
      restart: on-failure
    develop:
      watch: [{path: ./static, action: sync, target: /static}]
  worker:
    depends_on: [redis]
    x-devenv:
      run: [python, -m, demo.worker]
      cwd: demo
      replicas: 2
      shell: false
      env_file: worker.env
      environment: [QUEUE=jobs]
      ready: {log: "worker ready", interval: 0.2, timeout: 2s, retries: 10}
"""


def test_design_example_loads(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": DEMO, "worker.env": "CONCURRENCY=4\nQUEUE=ignored\n"})
    stack = load(tmp_path)
    assert stack.name == tmp_path.name.lower()
    assert list(stack.services) == ["postgres", "redis", "migrate", "api", "worker"]
    postgres = stack.service("postgres")
    assert postgres.kind == "container"
    assert postgres.environment["POSTGRES_PASSWORD"] == "dev"
    assert postgres.ports[0].target == 5432 and postgres.ports[0].published == "5432"
    assert postgres.healthcheck is not None and postgres.healthcheck.interval == 10.0
    redis = stack.service("redis").healthcheck
    assert redis is not None
    assert redis.test == ("CMD-SHELL", "redis-cli ping")
    assert (redis.interval, redis.timeout, redis.retries) == (90.0, 0.5, 3)

    api = stack.service("api")
    assert api.kind == "process" and api.local is not None
    assert api.local.run == "python -m demo.api --port 3000"
    assert api.local.cwd == tmp_path
    assert api.local.ports == (3000,)
    assert api.local.ready is not None and api.local.ready.kind == "http"
    assert api.local.ready.target == "http://localhost:3000/health"
    assert api.local.watch == (tmp_path / "demo", tmp_path / "static")
    assert api.local.ignore == ("*.pyc",)
    assert api.local.restart == "on-failure"
    assert api.depends_on["migrate"].condition is Condition.COMPLETED

    worker = stack.service("worker").local
    assert worker is not None
    assert worker.run == "python -m demo.worker"
    assert worker.cwd == tmp_path / "demo"
    assert worker.replicas == 2
    assert worker.env_files == (tmp_path / "worker.env",)
    assert dict(worker.environment) == {"QUEUE": "jobs"}  # env files are read at start
    assert worker.ready is not None
    assert (worker.ready.kind, worker.ready.interval, worker.ready.timeout) == ("log", 0.2, 2.0)
    assert worker.ready.retries == 10

    assert stack.start_order() == [["postgres", "redis"], ["migrate", "worker"], ["api"]]


def test_select_brings_dependencies_and_rejects_unknown_names(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": DEMO, "worker.env": ""})
    stack = load(tmp_path)
    assert list(stack.select(["api"]).services) == ["postgres", "redis", "migrate", "api"]
    with pytest.raises(SelectionError) as error:
        stack.select(["apii"])
    assert "did you mean api?" in str(error.value)
    assert "postgres" in str(error.value)


def test_tcp_and_cmd_probes(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n"
            "  a: {x-devenv: {run: x, ready: {tcp: 5000}}}\n"
            "  b: {x-devenv: {run: x, ready: {tcp: 'db.local:5432'}}}\n"
            "  c: {x-devenv: {run: x, shell: true, ready: {cmd: 'curl -f localhost'}}}\n"
        },
    )
    stack = load(tmp_path)
    probes = {n: s.local.ready for n, s in stack.services.items() if s.local}
    assert probes["a"] is not None and probes["a"].target == "127.0.0.1:5000"
    assert probes["b"] is not None and probes["b"].target == "db.local:5432"
    assert probes["c"] is not None and probes["c"].kind == "cmd"
    assert stack.service("c").local is not None and stack.service("c").local.shell  # type: ignore[union-attr]


def test_discovery_walks_up_and_takes_the_override(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "docker-compose.yml": "services:\n  a: {image: one}\n",
            "docker-compose.override.yml": "services:\n  a: {image: two}\n",
            "deep/er/file.txt": "",
        },
    )
    stack = load(tmp_path / "deep" / "er")
    assert stack.files == (
        tmp_path / "docker-compose.yml",
        tmp_path / "docker-compose.override.yml",
    )
    assert stack.service("a").image == "two"
    assert stack.project_dir == tmp_path


def test_compose_yaml_wins_over_docker_compose_yml(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n  a: {image: new}\n",
            "docker-compose.yml": "services:\n  a: {image: old}\n",
        },
    )
    stack = load(tmp_path)
    assert stack.service("a").image == "new"
    assert any("using compose.yaml" in w for w in stack.warnings)


def test_compose_file_variable_and_separator(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "one.yaml": "services:\n  a: {image: one}\n",
            "two.yaml": "services:\n  b: {image: two}\n",
        },
    )
    stack = load(tmp_path, {"COMPOSE_FILE": "one.yaml:two.yaml"})
    assert list(stack.services) == ["a", "b"]
    stack = load(tmp_path, {"COMPOSE_FILE": "one.yaml;two.yaml", "COMPOSE_PATH_SEPARATOR": ";"})
    assert list(stack.services) == ["a", "b"]


def test_explicit_files_in_order(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "one.yaml": "services:\n  a: {image: one, command: run one}\n",
            "two.yaml": "services:\n  a: {image: two}\n",
        },
    )
    stack = load(tmp_path, files=(Path("two.yaml"), Path("one.yaml")))
    assert stack.service("a").image == "one"
    assert stack.service("a").command == ("run", "one")


@pytest.mark.parametrize(
    ("env", "options", "dotenv", "expected"),
    [
        ({}, {}, "", "myproject-1"),
        ({}, {}, "COMPOSE_PROJECT_NAME=from-dotenv\n", "from-dotenv"),
        (
            {"COMPOSE_PROJECT_NAME": "from-env"},
            {},
            "COMPOSE_PROJECT_NAME=from-dotenv\n",
            "from-env",
        ),
        ({"COMPOSE_PROJECT_NAME": "from-env"}, {"project_name": "from-flag"}, "", "from-flag"),
    ],
)
def test_project_name_precedence(
    tmp_path: Path, env: dict[str, str], options: dict[str, str], dotenv: str, expected: str
) -> None:
    root = write(
        tmp_path / "_My.Project-1", {"compose.yaml": "services:\n  a: {image: x}\n", ".env": dotenv}
    )
    assert load(root, env, **options).name == expected


def test_top_level_name(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": "name: ${N:-named}\nservices:\n  a: {image: x}\n"})
    assert load(tmp_path).name == "named"
    assert load(tmp_path, {"N": "other"}).name == "other"
    assert load(tmp_path, {"N": "_My Project.2"}).name == "myproject2"  # normalised, as Compose


def test_environment_overrides_dotenv_and_variables_are_merged(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n  a: {image: '${IMG}:${TAG}'}\n",
            ".env": "IMG=from-dotenv\nTAG=1\nREF=${TAG}-ref\nLIT='${TAG}'\n",
        },
    )
    stack = load(tmp_path, {"TAG": "2"})
    assert stack.service("a").image == "from-dotenv:2"
    assert stack.variables["IMG"] == "from-dotenv"
    assert stack.variables["REF"] == "2-ref"
    assert stack.variables["LIT"] == "${TAG}"
    assert stack.env_file == tmp_path / ".env"


def test_env_file_option(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"compose.yaml": "services:\n  a: {image: '${IMG}'}\n", "other.env": "IMG=other\n"},
    )
    assert load(tmp_path, env_file=Path("other.env")).service("a").image == "other"
    with pytest.raises(ConfigError, match="env file not found"):
        load(tmp_path, env_file=Path("missing.env"))


def test_profiles_from_option_and_variable(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n  a: {image: x}\n  b: {image: x, profiles: [dbg]}\n"
            "  c: {image: x, profiles: [other]}\n"
        },
    )
    assert list(load(tmp_path).services) == ["a"]
    assert list(load(tmp_path, profiles=("dbg",)).services) == ["a", "b"]
    assert list(load(tmp_path, {"COMPOSE_PROFILES": "dbg,other"}).services) == ["a", "b", "c"]
    assert load(tmp_path, profiles=("dbg",)).active_profiles == ("dbg", "devenv")


def test_the_devenv_profile_is_always_on(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n"
            "  api:\n    image: x\n    depends_on: {stub: {condition: service_started, "
            "required: false}}\n"
            "  stub:\n    profiles: [devenv]\n    x-devenv: {run: python -m stub}\n"
            "  dbg:\n    image: y\n    profiles: [debug]\n"
        },
    )
    for options in ({}, {"profiles": ("debug",)}, {"profiles": ("devenv",)}):
        stack = load(tmp_path, **options)
        assert "stub" in stack.services
        assert stack.active_profiles.count("devenv") == 1
    assert list(load(tmp_path, {"COMPOSE_PROFILES": "debug"}).services) == ["api", "stub", "dbg"]
    assert stack.service("api").depends_on["stub"].required is False
    shown = run_cli(tmp_path, "config", "--services")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == ["api", "stub"]


def test_unknown_keys_compose_supports_are_kept(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n  a:\n    image: x\n    secrets: [s]\n"
            "    cap_add: [NET_ADMIN]\n"
            "    x-custom: 1\n    deploy: {replicas: 3, resources: {limits: {cpus: '0.5'}}}\n"
            "secrets:\n  s: {file: ./s.txt}\nx-top: {a: 1}\n"
        },
    )
    stack = load(tmp_path)
    service = stack.service("a")
    assert service.extra["cap_add"] == ["NET_ADMIN"]
    assert service.extra["x-custom"] == 1
    assert service.replicas == 3
    assert "s" in stack.extra["secrets"]
    assert stack.extra["x-top"] == {"a": 1}


def test_scale_sets_replicas(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": "services:\n  a: {image: x, scale: 4}\n"})
    assert load(tmp_path).service("a").replicas == 4


def test_unset_variable_is_a_warning(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": "services:\n  a: {image: 'x${NOPE}'}\n"})
    stack = load(tmp_path)
    assert stack.service("a").image == "x"
    assert any("NOPE" in w for w in stack.warnings)


def test_load_options_default_to_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, {"compose.yaml": "services:\n  a: {image: '${WHO:-nobody}'}\n"})
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WHO", "me")
    assert load_stack(LoadOptions()).service("a").image == "me"


def test_stack_is_immutable(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": "services:\n  a: {image: x, environment: {A: '1'}}\n"})
    stack = load(tmp_path)
    with pytest.raises(TypeError):
        stack.services["b"] = stack.service("a")  # type: ignore[index]
    with pytest.raises(TypeError):
        stack.service("a").environment["A"] = "2"  # type: ignore[index]


def test_included_process_paths_are_relative_to_the_included_project(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "include:\n  - sub/app.yaml\n  - path: sub/here.yaml\n"
            "    project_directory: .\n",
            "sub/app.yaml": "services:\n  a:\n    x-devenv: {run: x, cwd: src, watch: [src]}\n",
            "sub/here.yaml": "services:\n  b:\n    x-devenv: {run: x, cwd: src}\n",
        },
    )
    stack = load(tmp_path)
    a, b = stack.service("a").local, stack.service("b").local
    assert a is not None and b is not None
    assert a.cwd == tmp_path / "sub" / "src"
    assert a.watch == (tmp_path / "sub" / "src",)
    assert b.cwd == tmp_path / "src"


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    write(tmp_path, {"compose.yaml": "x-bomb:\n" + "".join(f"  {line}\n" for line in lines)})
    with pytest.raises(ConfigError, match="expands to more than"):
        load(tmp_path)


def test_deep_nesting_is_an_error_not_a_crash(tmp_path: Path) -> None:
    deep = "[" * 5000 + "]" * 5000
    write(tmp_path, {"compose.yaml": f"x-deep: {deep}\nservices: {{}}\n"})
    with pytest.raises(ConfigError):
        load(tmp_path)


def test_origin_is_the_line_of_the_service_name(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": "services:\n  a:\n    image: x\n\n  b:\n    image: y\n"})
    stack = load(tmp_path)
    assert str(stack.service("b").origin) == f"{tmp_path / 'compose.yaml'}:5"


def test_container_only_keys_on_a_process_are_warned_about(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n  api:\n    image: x\n    ports: ['3000:3000']\n"
            "    healthcheck: {test: [CMD, 'true']}\n    x-devenv: {run: serve}\n"
        },
    )
    warnings = load(tmp_path).warnings
    assert any("compose.yaml:4: service 'api': ports apply" in w for w in warnings)
    assert any("compose.yaml:5: service 'api': healthcheck applies" in w for w in warnings)


def test_process_service_may_keep_its_container_ports_for_plain_compose(tmp_path: Path) -> None:
    # Under `docker compose up` the service runs in a container publishing 8000;
    # under devenv it is a local process listening on the same port. No clash.
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n  api:\n    image: app\n    ports: ['8000:8000']\n"
            "    x-devenv: {run: x, ports: [8000]}\n"
        },
    )
    assert load(tmp_path).service("api").local.ports == (8000,)  # type: ignore[union-attr]


def test_a_port_published_twice_by_one_service_is_found_at_start(tmp_path: Path) -> None:
    """Compose accepts the file (Docker refuses to start it): so does loading; the
    start's check names both entries."""
    write(tmp_path, {"compose.yaml": "services:\n  a: {image: x, ports: ['81:80', '81:90']}\n"})
    (clash,) = host_port_clashes(load(tmp_path), {})
    assert (
        clash.message() == "host port 81/tcp is claimed twice by service 'a': ports[0] and ports[1]"
    )
