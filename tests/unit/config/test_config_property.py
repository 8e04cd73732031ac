"""Random YAML and random interpolation strings: loading gives a Stack or a
DevenvError, never any other exception."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devenv.config import LoadOptions, Stack, load_stack
from devenv.config.compose.interpolate import TemplateError, substitute
from devenv.config.stack.xdevenv import KEYS as XDEVENV_KEYS
from devenv.errors import DevenvError

KEYS = st.sampled_from(
    [
        "services",
        "image",
        "command",
        "ports",
        "volumes",
        "environment",
        "depends_on",
        "healthcheck",
        "test",
        "interval",
        "x-devenv",
        "run",
        "watch",
        "ready",
        "http",
        "profiles",
        "extends",
        "include",
        "env_file",
        "deploy",
        "replicas",
        "api",
        "db",
        "condition",
        "target",
        "published",
        "build",
        "networks",
        "name",
        "wach",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=70000),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["80:80", "1m30s", "x", "${A:-b}", "$$", "./src:/src", "service_healthy", "~"]),
    st.text(max_size=12),
)
TREES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=25,
)
SERVICE_KEYS = st.sampled_from(
    [
        "image",
        "command",
        "entrypoint",
        "ports",
        "volumes",
        "environment",
        "depends_on",
        "healthcheck",
        "profiles",
        "extends",
        "env_file",
        "deploy",
        "build",
        "networks",
        "labels",
        "restart",
        "scale",
        "develop",
        "working_dir",
        "stop_grace_period",
        "secrets",
        "configs",
        "devices",
        "extra_hosts",
        "sysctls",
        "dns",
        "tmpfs",
        "mem_limit",
        "read_only",
        "privileged",
        "expose",
    ]
)
XDEVENV = st.dictionaries(
    st.sampled_from([*XDEVENV_KEYS, "wach"]),
    TREES,
    max_size=5,
)
SERVICE = st.one_of(
    st.dictionaries(KEYS, TREES, max_size=3),
    st.builds(
        lambda body, block: {**body, "x-devenv": block} if block is not None else body,
        st.dictionaries(SERVICE_KEYS, TREES, max_size=5),
        st.one_of(st.none(), XDEVENV),
    ),
)
SERVICES = st.dictionaries(st.sampled_from(["api", "db", "web"]), SERVICE, max_size=3)
TOP = st.dictionaries(
    st.sampled_from(["name", "volumes", "networks", "secrets", "x-any", "include", "version"]),
    TREES,
    max_size=2,
)


def _load(root: Path, text: str) -> Stack | DevenvError:
    (root / "compose.yaml").write_text(text)
    try:
        return load_stack(LoadOptions(cwd=root, environ={"A": "1", "HOME": str(root)}))
    except DevenvError as error:
        str(error)  # the message itself must render
        return error


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(services=SERVICES, top=TOP)
def test_random_compose_models(services: dict[str, Any], top: dict[str, Any]) -> None:
    document = {**top, "services": services}
    with tempfile.TemporaryDirectory() as tmp:
        result = _load(Path(tmp), yaml.safe_dump(document))
    assert isinstance(result, Stack | DevenvError)


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(list("services:\n  api-x{}[]$#'\"\t,&*!|>%@`0123456789")),
        max_size=80,
    )
)
def test_random_yaml_text(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = _load(Path(tmp), text)
    assert isinstance(result, Stack | DevenvError)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("${}:-+?AB_x$ 1")), max_size=30))
def test_random_interpolation(text: str) -> None:
    try:
        result = substitute(text, {"A": "a", "B": ""})
    except TemplateError:
        return
    assert isinstance(result, str)


@settings(max_examples=100, deadline=None)
@given(value=st.text(alphabet=st.sampled_from(list("${}:-+?AB_x$ 1'\"")), max_size=30))
def test_random_interpolation_in_a_file(value: str) -> None:
    document = {"services": {"api": {"image": value, "x-devenv": {"run": value}}}}
    with tempfile.TemporaryDirectory() as tmp:
        result = _load(Path(tmp), yaml.safe_dump(document))
    assert isinstance(result, Stack | DevenvError)


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("AB=_x #'\"\\$\n{}:-\texport")), max_size=60))
def test_random_dotenv(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / ".env").write_text(text)
        result = _load(root, "services:\n  a: {image: 'x${A:-}${B:-}'}\n")
    assert isinstance(result, Stack | DevenvError)
