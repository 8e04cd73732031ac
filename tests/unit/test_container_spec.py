"""The Docker-free parts of the container runtime: Compose names and labels, the
container configuration and its hash, where the engine is looked for, and the
splitting of output into lines."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from devenv.config.model import (
    Dependency,
    Healthcheck,
    Origin,
    PortMapping,
    Service,
    Stack,
    VolumeMount,
    frozen_map,
)
from devenv.runtime import docker_spec as ds
from devenv.runtime.docker_connect import resolve_endpoint, short_reason
from devenv.runtime.docker_images import split_image
from devenv.runtime.docker_logs import StreamSplitter, docker_since


def make(**fields: object) -> tuple[Stack, Service]:
    service = Service(name="db", origin=Origin(Path("/p/compose.yaml")), **fields)  # type: ignore[arg-type]
    stack = Stack(
        name="shop",
        project_dir=Path("/p"),
        files=(Path("/p/compose.yaml"), Path("/p/compose/infra.yaml")),
        services=frozen_map({"db": service}),
        volumes=frozen_map({"data": {}, "shared": {"external": True}, "named": {"name": "x"}}),
        networks=frozen_map({"back": {}}),
    )
    return stack, service


def test_compose_names_and_labels() -> None:
    stack, service = make(
        image="postgres:16",
        depends_on=frozen_map({"cache": Dependency("cache")}),
        labels=frozen_map({"team": "a"}),
    )
    spec = ds.container_spec(stack, service, 2)
    assert spec.name == "shop-db-2"
    assert spec.labels["team"] == "a"
    assert spec.labels[ds.PROJECT] == "shop" and spec.labels[ds.SERVICE] == "db"
    assert spec.labels[ds.NUMBER] == "2" and spec.labels[ds.ONEOFF] == "False"
    assert spec.labels[ds.WORKING_DIR] == "/p"
    assert spec.labels[ds.CONFIG_FILES] == "/p/compose.yaml,/p/compose/infra.yaml"
    assert spec.labels[ds.DEPENDS_ON] == "cache:service_started:false"
    assert spec.networks == {"shop_default": ["shop-db-2", "db"]}
    assert ds.volume_name(stack, "data") == "shop_data"
    assert ds.volume_name(stack, "shared") == "shared"
    assert ds.volume_name(stack, "named") == "x"
    assert ds.network_name(stack, "back") == "shop_back"


def test_ports_default_to_loopback_unless_an_address_is_given() -> None:
    stack, service = make(
        image="redis",
        ports=(
            PortMapping(target=6379, published="16379"),
            PortMapping(target=6379, published="26379", host_ip="0.0.0.0"),
            PortMapping(target=53, published=None, protocol="udp"),
        ),
    )
    spec = ds.container_spec(stack, service, 1)
    assert spec.ports == {
        "6379/tcp": [("127.0.0.1", "16379"), ("0.0.0.0", "26379")],
        "53/udp": [("127.0.0.1", None)],
    }


def test_volumes_and_networks_follow_compose_naming() -> None:
    stack, service = make(
        image="x",
        volumes=(
            VolumeMount(type="volume", source="data", target="/data"),
            VolumeMount(type="bind", source="/p/src", target="/src", read_only=True),
            VolumeMount(type="volume", source=None, target="/anon"),
        ),
        extra=frozen_map({"networks": {"back": {"aliases": ["database"]}}}),
    )
    spec = ds.container_spec(stack, service, 1)
    assert spec.mounts == [
        {"Target": "/data", "Type": "volume", "ReadOnly": False, "Source": "shop_data"},
        {"Target": "/src", "Type": "bind", "ReadOnly": True, "Source": "/p/src"},
        {"Target": "/anon", "Type": "volume", "ReadOnly": False},
    ]
    assert spec.networks == {"shop_back": ["shop-db-1", "db", "database"]}


def test_healthcheck_in_api_terms_and_as_a_command() -> None:
    check = Healthcheck(test=("CMD-SHELL", "pg_isready"), interval=10, timeout=2.5, retries=3)
    assert ds.healthcheck_api(check) == {
        "Test": ["CMD-SHELL", "pg_isready"],
        "Interval": 10_000_000_000,
        "Timeout": 2_500_000_000,
        "Retries": 3,
    }
    assert ds.healthcheck_api(Healthcheck(disable=True)) == {"Test": ["NONE"]}
    assert ds.healthcheck_api(None) is None
    assert ds.health_command(["CMD-SHELL", "pg_isready -h x"]) == [
        "/bin/sh",
        "-c",
        "pg_isready -h x",
    ]
    assert ds.health_command(["CMD", "redis-cli", "ping"]) == ["redis-cli", "ping"]
    assert ds.health_command(["NONE"]) is None


def test_config_hash_changes_with_the_configuration_only() -> None:
    stack, service = make(image="redis", environment=frozen_map({"A": "1", "UNSET": None}))
    spec = ds.container_spec(stack, service, 1)
    assert spec.environment == {"A": "1"}  # declared but unset: left out, as Compose does
    assert spec.config_hash() == ds.container_spec(stack, service, 1).config_hash()
    _, changed = make(image="redis", environment=frozen_map({"A": "2"}))
    assert ds.container_spec(stack, changed, 1).config_hash() != spec.config_hash()


def test_extra_labels_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ds.EXTRA_LABELS_ENV, "dev.devenv.test=1, other=x")
    assert ds.extra_labels() == {"dev.devenv.test": "1", "other": "x"}
    stack, _ = make(image="x")
    assert ds.volume_labels(stack, "data")["dev.devenv.test"] == "1"
    assert ds.volume_labels(stack, "data")[ds.VOLUME] == "data"


def test_endpoint_from_docker_host_context_or_default(tmp_path: Path) -> None:
    assert resolve_endpoint({"DOCKER_HOST": "tcp://h:2375"}).host == "tcp://h:2375"
    assert resolve_endpoint({"DOCKER_CONFIG": str(tmp_path)}).source == "the default socket"

    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    meta = tmp_path / "contexts" / "meta" / hashlib.sha256(b"remote").hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps({"Name": "remote", "Endpoints": {"docker": {"Host": "ssh://me@box"}}})
    )
    endpoint = resolve_endpoint({"DOCKER_CONFIG": str(tmp_path)})
    assert endpoint.host == "ssh://me@box" and endpoint.context == "remote"
    assert "docker context 'remote'" in endpoint.source
    # DOCKER_HOST wins over the context; DOCKER_CONTEXT over config.json
    assert resolve_endpoint({"DOCKER_CONFIG": str(tmp_path), "DOCKER_HOST": "unix:///s"}).host == (
        "unix:///s"
    )
    missing = resolve_endpoint({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "gone"})
    assert "not found" in missing.source


def test_short_reasons() -> None:
    error = Exception(
        "Error while fetching server API version: ('Connection aborted.', "
        "FileNotFoundError(2, 'No such file or directory'))"
    )
    assert short_reason(error) == "the socket does not exist"


def test_image_names_split_like_docker() -> None:
    assert split_image("postgres:16-alpine") == ("postgres", "16-alpine")
    assert split_image("localhost:5000/app") == ("localhost:5000/app", None)
    assert split_image("localhost:5000/app:1") == ("localhost:5000/app", "1")
    assert split_image("redis@sha256:abc") == ("redis", "sha256:abc")


def test_line_splitter_keeps_streams_apart_and_flushes_partials() -> None:
    got: list[tuple[str, list[str]]] = []
    splitter = StreamSplitter(lambda stream, lines: got.append((stream, lines)))
    splitter.feed("stdout", b"a\nb")
    splitter.feed("stderr", b"e1\r\n")
    splitter.feed("stdout", b"c\n\xff\n")
    splitter.feed("stdout", b"tail")
    splitter.flush()
    assert got == [
        ("stdout", ["a"]),
        ("stderr", ["e1"]),
        ("stdout", ["bc", "\ufffd"]),
        ("stdout", ["tail"]),
    ]


def test_container_streams_cut_long_lines_like_process_pipes_each_on_its_own() -> None:
    from devenv.runtime.lines import LineSplitter

    got: list[tuple[str, list[str]]] = []
    splitter = StreamSplitter(lambda stream, lines: got.append((stream, lines)))
    big = b"y" * 200_000
    for start in range(0, len(big), 16_384):  # Docker's 16 KiB log frames
        splitter.feed("stdout", big[start : start + 16_384])
        splitter.feed("stderr", b"e")
    splitter.feed("stdout", b"\n")
    splitter.flush()
    out = [line for stream, lines in got if stream == "stdout" for line in lines]
    err = [line for stream, lines in got if stream == "stderr" for line in lines]
    reference = LineSplitter()
    assert out == reference.feed(big + b"\n")
    assert len(out) == 4 and out[1].startswith("\u2026[+63 KiB] ")
    assert err == ["e" * 13]


def test_docker_since_keeps_nanoseconds() -> None:
    assert docker_since("1970-01-01T00:00:10.000000042Z") == "10.000000042"
    assert docker_since("1970-01-01T00:01:00Z") == "60.000000000"


def test_the_container_runtime_imports_docker_only_when_used() -> None:
    import subprocess
    import sys

    code = (
        "import sys, devenv.runtime.container, devenv.commands.down, devenv.commands.init, "
        "devenv.commands.doctor\n"
        "devenv.runtime.container.docker_host()\n"
        "print('docker' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"
