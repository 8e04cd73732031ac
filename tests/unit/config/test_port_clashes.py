"""Host ports claimed by the services about to start, each in the kind it will
run as, and the pairs that clash. Loading never rejects a clash (Compose does
not); `devenv config` accepts such a file."""

from __future__ import annotations

from pathlib import Path

from config_helpers import load, run_cli, write

from devenv.config.model import Kind, Stack
from devenv.config.stack.port_clashes import host_port_claims, host_port_clashes

FILE = """\
services:
  web:
    image: nginx
    ports: ["8080:80"]
  web-debug:
    extends: web
  db:
    image: postgres
    ports: ["3000:5432", "127.0.0.1:9000-9001:9000", "5353:53/udp"]
  api:
    image: api
    ports: ["8000:8000"]
    x-devenv: {run: x, ports: [3000, 3100]}
  workers:
    image: w
    scale: 3
    ports: ["7000:80", "7100-7102:81", "80"]
    x-devenv: {run: x, ports: [3001]}
  idle:
    image: i
    scale: 0
    ports: ["8000:80"]
  udp:
    x-devenv: {run: x, ports: [5353]}
  other-ip:
    image: o
    ports: ["127.0.0.2:9000:9000"]
"""


def stack_of(tmp_path: Path, *names: str) -> Stack:
    write(tmp_path, {"compose.yaml": FILE})
    return load(tmp_path).select(names)


def clashes(stack: Stack, **kinds: Kind) -> list[tuple[str, str, int]]:
    return [(c.first.unit, c.second.unit, c.port) for c in host_port_clashes(stack, kinds)]


def test_config_accepts_a_file_with_clashing_ports(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": FILE})
    result = run_cli(tmp_path, "config", "-q")
    assert result.returncode == 0, result.stderr


def test_an_extends_copy_clashes_only_when_both_start(tmp_path: Path) -> None:
    assert clashes(stack_of(tmp_path, "web")) == []
    assert clashes(stack_of(tmp_path, "web-debug")) == []
    both = host_port_clashes(stack_of(tmp_path, "web", "web-debug"), {})
    assert [(c.first.service, c.second.service, c.port) for c in both] == [
        ("web", "web-debug", 8080)
    ]
    message = both[0].message()
    assert "8080/tcp" in message and "'web' ports[0]" in message and "'web-debug'" in message
    assert "devenv start web" in both[0].hint()


def test_each_service_claims_in_the_kind_it_runs_as(tmp_path: Path) -> None:
    stack = stack_of(tmp_path, "db", "api")
    # api runs locally by default: its x-devenv.ports[0] 3000 meets db's published 3000
    assert clashes(stack) == [("db", "api", 3000)]
    clash = host_port_clashes(stack, {})[0]
    assert (clash.second.kind, clash.second.key) == ("process", "x-devenv.ports[0]")
    # as a container, api publishes 8000 only
    assert clashes(stack, api="container") == []
    claims = {(c.unit, c.port) for c in host_port_claims(stack, {"api": "container"})}
    assert ("api", 8000) in claims and ("api", 3000) not in claims


def test_replicas_claim_their_offset_ports(tmp_path: Path) -> None:
    stack = stack_of(tmp_path, "workers", "api")
    local = [(c.unit, c.port) for c in host_port_claims(stack, {"api": "container"})]
    assert ("workers-1", 3001) in local and ("workers-3", 3003) in local
    # api's local ports 3000 and 3100: workers-1's 3001 is free, no clash
    assert clashes(stack) == []
    write(tmp_path, {"compose.yaml": FILE.replace("ports: [3000, 3100]", "ports: [3003]")})
    found = host_port_clashes(load(tmp_path).select(["workers", "api"]), {})
    assert [(c.first.unit, c.second.unit, c.port) for c in found] == [("api", "workers-3", 3003)]
    assert "replica workers-3" in found[0].message()


def test_container_replicas_on_one_fixed_port_clash_but_a_range_is_shared(
    tmp_path: Path,
) -> None:
    stack = stack_of(tmp_path, "workers")
    found = clashes(stack, workers="container")
    # "7000:80" on three replicas: 2 and 3 each meet 1; the range and "80" do not
    assert found == [("workers-1", "workers-2", 7000), ("workers-1", "workers-3", 7000)]
    clash = host_port_clashes(stack, {"workers": "container"})[0]
    assert "claimed twice by service 'workers'" in clash.message()
    assert "range" in clash.hint()
    ports = {c.port for c in host_port_claims(stack, {"workers": "container"})}
    assert ports == {7000, 7100, 7101, 7102}


def test_replicas_of_local_processes_clash_with_another_process(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n  api:\n"
            "    x-devenv: {run: x, ports: [3000], replicas: 3}\n"
            "  web:\n    x-devenv:\n      run: y\n      ports: [3002]\n"
        },
    )
    (clash,) = host_port_clashes(load(tmp_path), {})
    assert (clash.first.unit, clash.second.unit, clash.port) == ("api-3", "web", 3002)
    assert clash.second.key == "x-devenv.ports[0]"


def test_scaled_to_zero_claims_nothing(tmp_path: Path) -> None:
    stack = stack_of(tmp_path, "idle", "api")
    assert [c for c in host_port_claims(stack, {}) if c.service == "idle"] == []
    assert clashes(stack, api="container") == []


def test_protocols_and_host_addresses(tmp_path: Path) -> None:
    # db publishes 5353/udp; udp's process listens on 5353 (tcp): no clash
    assert clashes(stack_of(tmp_path, "db", "udp")) == []
    # 127.0.0.1:9000 (db) and 127.0.0.2:9000 (other-ip): different addresses
    assert clashes(stack_of(tmp_path, "db", "other-ip")) == []
    # a container without a host address is published on 127.0.0.1 by devenv
    claim = next(c for c in host_port_claims(stack_of(tmp_path, "web"), {}) if c.port == 8080)
    assert claim.host_ip == "127.0.0.1"
    # a process may bind any address: it meets a container on 127.0.0.2
    write(
        tmp_path,
        {"compose.yaml": FILE.replace("ports: [5353]", "ports: [9000]")},
    )
    assert clashes(load(tmp_path).select(["udp", "other-ip"])) == [("udp", "other-ip", 9000)]
