"""Shared fixtures. Docker tests: a real engine, or a skip with a reason — unless
DEVENV_REQUIRE_DOCKER=1 (CI), where a missing engine is a failure."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

TEST_LABEL = "dev.devenv.test"  # every container/network/volume a test creates carries it
# ...with this run's id as its value, so that two test runs on one engine (a
# developer's and a helper's) never sweep each other's containers.
TEST_RUN = os.environ.setdefault("DEVENV_TEST_RUN", uuid.uuid4().hex[:12])
TEST_LABELS = f"{TEST_LABEL}={TEST_RUN}"  # as DEVENV_EXTRA_LABELS takes it


def docker_required() -> bool:
    return os.environ.get("DEVENV_REQUIRE_DOCKER") == "1"


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A client for the real engine, shared by the whole run; sweeps test
    resources (by label) at the end."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as error:  # any failure to reach the engine
        message = f"no Docker Engine reachable ({error.__class__.__name__}: {error})"
        if docker_required():
            pytest.fail(f"DEVENV_REQUIRE_DOCKER=1 but {message}", pytrace=False)
        pytest.skip(message)
    yield client
    sweep(client)
    client.close()


def sweep(client: Any) -> None:
    """Remove every container, network and volume labelled as this run's."""
    flt = {"label": TEST_LABELS}
    for container in client.containers.list(all=True, filters=flt):
        container.remove(force=True, v=True)
    for network in client.networks.list(filters=flt):
        network.remove()
    for volume in client.volumes.list(filters=flt):
        volume.remove(force=True)
