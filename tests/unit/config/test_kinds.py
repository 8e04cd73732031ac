"""How each service will run: its default, or what --local/--container ask,
checked against what the service can do."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import load, write

from devenv.config.stack.kinds import resolve_kinds
from devenv.errors import SelectionError

FILE = """\
services:
  db: {image: postgres}
  api:
    image: api
    x-devenv: {run: x}
  worker:
    build: .
    x-devenv: {run: y, mode: container}
  stub:
    x-devenv: {run: z}
"""


def test_defaults_and_requests(tmp_path: Path) -> None:
    stack = load(write(tmp_path, {"compose.yaml": FILE}))
    assert resolve_kinds(stack) == {
        "db": "container",
        "api": "process",
        "worker": "container",
        "stub": "process",
    }
    flipped = resolve_kinds(stack, local=["worker"], container=["api"])
    assert (flipped["worker"], flipped["api"]) == ("process", "container")


@pytest.mark.parametrize(
    ("local", "container", "message"),
    [
        (["db"], [], "service 'db': cannot run locally: it has no x-devenv.run"),
        ([], ["stub"], "service 'stub': cannot run as a container: it has neither image nor build"),
        (["api"], ["api"], "service 'api': is asked to run both locally and as a container"),
        (["apj"], [], "no service named 'apj'"),
    ],
)
def test_impossible_requests_are_errors(
    tmp_path: Path, local: list[str], container: list[str], message: str
) -> None:
    stack = load(write(tmp_path, {"compose.yaml": FILE}))
    with pytest.raises(SelectionError) as caught:
        resolve_kinds(stack, local=local, container=container)
    assert message in str(caught.value)
    assert caught.value.hint
