"""Addresses follow the mode: Compose-style addresses in a service's environment
are rewritten to where the addressed service runs, on real-world shapes; what
only looks like an address is left alone."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from config_helpers import load, run_cli, write
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from devenv.config.model import Kind, Rewrite, Stack
from devenv.config.stack.addresses import rewrite_environment
from devenv.errors import ConfigError

# db, redis and kafka are containers with published ports; api and web can run
# either way; mailpit publishes its web UI only.
STACK = """\
services:
  db:
    image: postgres:16-alpine
    ports: ["127.0.0.1:15432:5432"]
  redis:
    image: redis:7-alpine
    ports: ["16379:6379"]
  kafka:
    image: kafka
    ports: ["19092:9092", "19093:9093"]
    networks: {default: {aliases: [broker]}}
  search:
    image: search
    container_name: elastic
    ports: ["9200-9201:9200-9201"]
  v6db:
    image: postgres
    ports: ["[::1]:25432:5432"]
  mailpit:
    image: mailpit
    ports: ["8025:8025"]
    expose: [1025]
  web:
    image: web
    ports: ["18080:80"]
    x-devenv: {run: x, ports: [18080]}
  api:
    image: api
    ports: ["18000:3000"]
    x-devenv:
      run: x
      ports: [18000, 18001]
      environment: {OVERRIDDEN: "db:5432 stays"}
      env_file: local.env
    environment:
%s
"""


def stack_with(tmp_path: Path, env: dict[str, str]) -> Stack:
    lines = (
        "\n".join(f"      {key}: {json.dumps(value)}" for key, value in env.items()) or "      {}"
    )
    write(tmp_path, {"compose.yaml": STACK % lines, "local.env": "FROM_FILE=db:5432\n"})
    return load(tmp_path)


def rewritten(tmp_path: Path, value: str, **kinds: Kind) -> str:
    stack = stack_with(tmp_path, {"V": value})
    result = rewrite_environment(stack, stack.service("api"), kinds)
    after = result.environment["V"]
    assert after is not None
    return after


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # URLs and DSNs, with credentials, paths, queries and fragments
        ("postgresql://app:dev@db:5432/app", "postgresql://app:dev@127.0.0.1:15432/app"),
        (
            "postgresql://app:s3cr%40t@db:5432/app?sslmode=disable&application_name=api",
            "postgresql://app:s3cr%40t@127.0.0.1:15432/app?sslmode=disable&application_name=api",
        ),
        ("postgres://app:p@ss:w0rd@db:5432/app", "postgres://app:p@ss:w0rd@127.0.0.1:15432/app"),
        ("postgres://db:5432", "postgres://127.0.0.1:15432"),
        (
            "postgresql+asyncpg://app:pw@db:5432/app",
            "postgresql+asyncpg://app:pw@127.0.0.1:15432/app",
        ),
        (
            "jdbc:postgresql://db:5432/app?user=app",
            "jdbc:postgresql://127.0.0.1:15432/app?user=app",
        ),
        ("redis://redis:6379/0", "redis://127.0.0.1:16379/0"),
        ("redis://:password@redis:6379/2", "redis://:password@127.0.0.1:16379/2"),
        ("rediss://default:pw@redis:6379", "rediss://default:pw@127.0.0.1:16379"),
        ("amqp://guest:guest@kafka:9092/%2f", "amqp://guest:guest@127.0.0.1:19092/%2f"),
        ("http://web:80/api/v1?x=1#frag", "http://127.0.0.1:18080/api/v1?x=1#frag"),
        ("https://web:80", "https://127.0.0.1:18080"),
        ("PLAINTEXT://kafka:9092", "PLAINTEXT://127.0.0.1:19092"),
        # a URL without a port means its scheme's default port
        ("postgres://app:pw@db/app", "postgres://app:pw@127.0.0.1:15432/app"),
        ("redis://redis", "redis://127.0.0.1:16379"),
        ("http://web/health", "http://127.0.0.1:18080/health"),
        # several hosts in one URL, and host:port lists
        (
            "mongodb://u:p@db:5432,redis:6379/x?replicaSet=rs0",
            "mongodb://u:p@127.0.0.1:15432,127.0.0.1:16379/x?replicaSet=rs0",
        ),
        ("kafka:9092,kafka:9093", "127.0.0.1:19092,127.0.0.1:19093"),
        ("kafka:9092, broker:9093", "127.0.0.1:19092, 127.0.0.1:19093"),
        ("kafka:9092 kafka:9093", "127.0.0.1:19092 127.0.0.1:19093"),
        ("redis:6379", "127.0.0.1:16379"),
        ("user@db:5432", "user@127.0.0.1:15432"),
        ("--broker=kafka:9092 --verbose", "--broker=127.0.0.1:19092 --verbose"),
        # aliases and container_name; host names are case-insensitive
        ("broker:9093", "127.0.0.1:19093"),
        ("http://elastic:9201", "http://127.0.0.1:9201"),
        ("http://DB:5432", "http://127.0.0.1:15432"),
        # keyword DSNs (libpq, Npgsql)
        ("host=db port=5432 dbname=app user=app", "host=127.0.0.1 port=15432 dbname=app user=app"),
        ("Host=db;Port=5432;Database=app", "Host=127.0.0.1;Port=15432;Database=app"),
        # a container published on an IPv6 address: the literal is bracketed
        ("postgres://v6db:5432/app", "postgres://[::1]:25432/app"),
        ("v6db:5432", "[::1]:25432"),
        ("host=v6db port=5432", "host=::1 port=25432"),
        # another local process: its x-devenv port (the same number, the host
        # port its container port is published on)
        ("http://web:18080/", "http://127.0.0.1:18080/"),
        ("http://api:3000/callback", "http://127.0.0.1:18000/callback"),
    ],
)
def test_a_local_process_reaches_each_service_where_it_runs(
    tmp_path: Path, before: str, after: str
) -> None:
    assert rewritten(tmp_path, before, web="process") == after


@pytest.mark.parametrize(
    "value",
    [
        "12:30",
        "12:30:45",
        "Mon 09:00-17:00",
        "http://[::1]:5432/x",
        "[::1]:5432",
        "fe80::1:5432",
        "::ffff:127.0.0.1",
        r"C:\Users\db\data",
        "C:/db:5432",
        "http://example.com:5432/",
        "localhost:5432",
        "127.0.0.1:5432",
        "mydb:5432",
        "db.example.com:5432",
        "db-replica:5432",
        "db_old:5432",
        "db:5432:extra",
        "/var/run/db:5432",
        "db",  # a host without a port: left alone (with a note)
        "redis",
        "image: redis:7-alpine",  # a tag, not a port
        "redis:latest",
        "redis:7",  # an image tag: redis declares no port 7
        "db:16",
        "web:3",  # a local process that declares no port 3
        "mailpit",
        "http://mailpit/",  # default port 80, not published: left alone
        "host=db dbname=app",  # no port
        "host=elsewhere port=5432",
        "ratio 16:9",
        "sha256:abcdef",
        "urn:isbn:0451450523",
        "",
    ],
)
def test_what_only_looks_like_an_address_is_left_alone(tmp_path: Path, value: str) -> None:
    assert rewritten(tmp_path, value) == value


def test_a_container_reaches_a_local_process_through_the_docker_host(tmp_path: Path) -> None:
    stack = stack_with(tmp_path, {})
    write(
        tmp_path,
        {
            "compose.yaml": (tmp_path / "compose.yaml").read_text()
            + "  worker:\n    image: worker\n    environment:\n"
            "      API: http://api:3000/jobs\n      WEB: web:80\n"
            "      DB: postgres://db:5432/app\n"
        },
    )
    stack = load(tmp_path)
    worker = stack.service("worker")
    result = rewrite_environment(stack, worker, {"web": "container"})
    assert result.environment["API"] == "http://host.docker.internal:18000/jobs"
    assert result.environment["WEB"] == "web:80"  # both containers: Compose's network
    assert result.environment["DB"] == "postgres://db:5432/app"
    assert result.extra_hosts == ("host.docker.internal:host-gateway",)
    assert result.rewrites == (
        Rewrite("API", "http://api:3000/jobs", "http://host.docker.internal:18000/jobs", "api"),
    )
    # web running locally too; api as a container: then only web is rewritten
    result = rewrite_environment(stack, worker, {"web": "process", "api": "container"})
    assert result.environment["WEB"] == "host.docker.internal:18080"
    assert result.environment["API"] == "http://api:3000/jobs"
    # nothing runs locally: nothing to rewrite, no extra host
    nothing = rewrite_environment(stack, worker, {"api": "container", "web": "container"})
    assert nothing.rewrites == () and nothing.extra_hosts == ()


def test_a_service_already_mapping_the_docker_host_gets_no_second_entry(tmp_path: Path) -> None:
    stack_with(tmp_path, {})
    write(
        tmp_path,
        {
            "compose.yaml": (tmp_path / "compose.yaml").read_text()
            + "  worker:\n    image: worker\n"
            "    extra_hosts: ['host.docker.internal:host-gateway']\n"
            "    environment: {API: 'api:3000'}\n"
        },
    )
    stack = load(tmp_path)
    result = rewrite_environment(stack, stack.service("worker"), {})
    assert result.environment["API"] == "host.docker.internal:18000"
    assert result.extra_hosts == ()


def test_rewrites_are_recorded_per_variable(tmp_path: Path) -> None:
    stack = stack_with(
        tmp_path,
        {"DATABASE_URL": "postgres://db:5432/app", "HOSTS": "db:5432,redis:6379", "N": "1"},
    )
    result = rewrite_environment(stack, stack.service("api"), {})
    assert result.rewrites == (
        Rewrite("DATABASE_URL", "postgres://db:5432/app", "postgres://127.0.0.1:15432/app", "db"),
        Rewrite("HOSTS", "db:5432,redis:6379", "127.0.0.1:15432,127.0.0.1:16379", "db, redis"),
    )
    assert result.environment["N"] == "1"


def test_x_devenv_environment_and_env_file_win_and_rewrite_false_turns_it_off(
    tmp_path: Path,
) -> None:
    stack = stack_with(
        tmp_path, {"OVERRIDDEN": "db:5432", "FROM_FILE": "db:5432", "OTHER": "db:5432"}
    )
    api = stack.service("api")
    result = rewrite_environment(stack, api, {})
    assert [r.variable for r in result.rewrites] == ["OTHER"]
    assert result.environment["OVERRIDDEN"] == "db:5432"  # x-devenv.environment sets it
    assert result.environment["FROM_FILE"] == "db:5432"  # x-devenv.env_file sets it
    # as a container, x-devenv does not apply: nothing to rewrite there anyway
    assert rewrite_environment(stack, api, {"api": "container"}).rewrites == ()
    text = (
        (tmp_path / "compose.yaml")
        .read_text()
        .replace(
            "      run: x\n      ports: [18000",
            "      run: x\n      rewrite: false\n      ports: [18000",
        )
    )
    write(tmp_path, {"compose.yaml": text})
    stack = load(tmp_path)
    off = rewrite_environment(stack, stack.service("api"), {})
    assert off.rewrites == () and off.environment["OTHER"] == "db:5432"


def test_a_bare_service_name_is_left_alone_with_a_note(tmp_path: Path) -> None:
    stack = stack_with(tmp_path, {"SMTP_HOST": "mailpit", "SMTP_PORT": "1025"})
    result = rewrite_environment(stack, stack.service("api"), {})
    assert result.environment["SMTP_HOST"] == "mailpit"
    assert result.rewrites == ()
    assert any(
        "SMTP_HOST=mailpit names service 'mailpit' without a port" in n for n in result.notes
    )


def test_an_unpublished_port_is_an_error_naming_both_services_and_the_fix(
    tmp_path: Path,
) -> None:
    stack = stack_with(tmp_path, {"SMTP_URL": "smtp://mailpit:1025"})
    with pytest.raises(ConfigError) as caught:
        rewrite_environment(stack, stack.service("api"), {})
    error = caught.value
    assert (error.service, error.key) == ("api", "environment.SMTP_URL")
    assert error.file is not None and error.file.endswith("compose.yaml") and error.line
    assert "service 'mailpit' at mailpit:1025" in error.message
    assert "does not publish port 1025" in error.message
    assert error.hint is not None and "publish it in mailpit's ports" in error.hint
    assert '"127.0.0.1:1025:1025"' in error.hint


def test_a_bare_name_and_number_is_an_address_only_for_a_declared_port(tmp_path: Path) -> None:
    stack = stack_with(tmp_path, {"PG_IMAGE": "db:16", "SMTP_ADDR": "mailpit:8025"})
    result = rewrite_environment(stack, stack.service("api"), {})
    assert result.environment["PG_IMAGE"] == "db:16"
    assert any("PG_IMAGE: db:16 looks like an address of service 'db'" in n for n in result.notes)
    assert result.environment["SMTP_ADDR"] == "127.0.0.1:8025"
    # mailpit exposes 1025 without publishing it: an address the process cannot reach
    stack = stack_with(tmp_path, {"SMTP_ADDR": "mailpit:1025"})
    with pytest.raises(ConfigError, match="does not publish port 1025"):
        rewrite_environment(stack, stack.service("api"), {})


def test_a_local_target_whose_port_is_unknown_is_an_error(tmp_path: Path) -> None:
    stack = stack_with(tmp_path, {"INTERNAL": "http://api:9999/"})
    with pytest.raises(ConfigError) as caught:
        rewrite_environment(stack, stack.service("api"), {})
    assert "runs locally" in caught.value.message and "18000, 18001" in caught.value.message
    assert (
        caught.value.hint is not None and "list 9999 in api's x-devenv.ports" in caught.value.hint
    )


def test_an_ephemeral_published_port_is_an_error(tmp_path: Path) -> None:
    stack_with(tmp_path, {})
    text = (tmp_path / "compose.yaml").read_text().replace('["16379:6379"]', '["6379"]')
    write(
        tmp_path,
        {
            "compose.yaml": text.replace(
                "    environment:\n      {}", "    environment: {R: 'redis:6379'}"
            )
        },
    )
    stack = load(tmp_path)
    with pytest.raises(ConfigError, match="does not publish port 6379"):
        rewrite_environment(stack, stack.service("api"), {})


def test_resolved_through_the_cli(tmp_path: Path) -> None:
    stack_with(tmp_path, {"DATABASE_URL": "postgres://app@db:5432/app", "SMTP_HOST": "mailpit"})
    result = run_cli(tmp_path, "config", "--resolved", "api")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("api (local)\n") and "db (container)" not in out
    assert "DATABASE_URL=postgres://app@127.0.0.1:15432/app" in out
    assert "DATABASE_URL: postgres://app@db:5432/app -> postgres://app@127.0.0.1:15432/app" in out
    assert "SMTP_HOST=mailpit names service 'mailpit' without a port" in out
    assert "OVERRIDDEN=db:5432 stays" in out  # x-devenv.environment, last
    container = run_cli(tmp_path, "config", "--resolved", "--container", "api", "api")
    assert container.returncode == 0, container.stderr
    assert "api (container)" in container.stdout
    assert "DATABASE_URL=postgres://app@db:5432/app" in container.stdout
    everything = run_cli(tmp_path, "config", "--resolved", "--json")
    assert everything.returncode == 0, everything.stderr
    data = json.loads(everything.stdout)
    assert data["db"] == {"mode": "container", "environment": {}, "rewrites": []}
    assert data["api"]["rewrites"] == [
        {
            "variable": "DATABASE_URL",
            "before": "postgres://app@db:5432/app",
            "after": "postgres://app@127.0.0.1:15432/app",
            "target": "db",
        }
    ]
    bad = run_cli(tmp_path, "config", "--resolved", "--local", "db")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "service 'db': cannot run locally: it has no x-devenv.run" in bad.stderr


@pytest.fixture(scope="module")
def plain_stack(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    return stack_with(tmp_path_factory.mktemp("addresses"), {})


def rewrite_value(stack: Stack, value: str) -> str:
    api = replace(stack.service("api"), environment={"V": value})
    after = rewrite_environment(stack, api, {}).environment["V"]
    assert after is not None
    return after


NAMES = ("db", "redis", "kafka", "broker", "search", "elastic", "v6db", "mailpit", "web", "api")


@settings(max_examples=300, deadline=None)
@given(value=st.text(alphabet=st.characters(codec="ascii"), max_size=60))
def test_a_value_naming_no_service_never_changes(plain_stack: Stack, value: str) -> None:
    """Whatever the text, only a service's name can be rewritten."""
    assume(not any(name in value.lower() for name in NAMES))
    assert rewrite_value(plain_stack, value) == value


@settings(max_examples=200, deadline=None)
@given(
    parts=st.lists(
        st.sampled_from(
            [
                "postgres://u:p@db:5432/app",
                "redis:6379",
                "kafka:9092,broker:9093",
                "http://web:80/x?y=1",
                " ",
                ",",
                "12:30",
                "[::1]:80",
                "host=db port=5432",
                "plain words",
            ]
        ),
        max_size=6,
    )
)
def test_rewriting_is_idempotent(plain_stack: Stack, parts: list[str]) -> None:
    """A rewritten value addresses 127.0.0.1, which is no service: rewriting it
    again changes nothing (and never fails)."""
    once = rewrite_value(plain_stack, "".join(parts))
    assert rewrite_value(plain_stack, once) == once
