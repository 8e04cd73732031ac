"""Compose parity that the conformance suite cannot show: where devenv goes by
the Compose specification rather than a quirk of docker compose v2.40 (the
differences docs/x-devenv.md lists), the errors devenv gives, and the rules
behind the numbers it prints."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import load, run_cli, write

from devenv.config.compose.shapes import cpu_count
from devenv.errors import ConfigError


def test_reset_removes_one_variable_whatever_form_the_earlier_file_used(tmp_path: Path) -> None:
    """docker compose v2.40 ignores `A: !reset` when the earlier file lists the
    variables as `- KEY=value`; the spec says the value is removed, so devenv
    removes it either way."""
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: a\n"
            "    environment: [A=1, B=2]\n    labels: [team=core, tier=web]\n",
            "compose.override.yaml": "services:\n  web:\n"
            "    environment: {A: !reset }\n    labels: {team: !reset ''}\n",
        },
    )
    web = load(tmp_path).service("web")
    assert dict(web.environment) == {"B": "2"}
    assert dict(web.labels) == {"tier": "web"}


def test_reset_inside_a_merged_anchor_applies_where_it_is_merged(tmp_path: Path) -> None:
    """docker compose v2.40 applies a tag inside an anchor only where the anchor
    is defined; devenv applies it wherever the anchor is merged in (`<<`)."""
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    ports: ['80:80']\n",
            "compose.override.yaml": "x-no-ports: &no-ports\n  ports: !reset []\n"
            "services:\n  web:\n    <<: *no-ports\n",
        },
    )
    assert load(tmp_path).service("web").ports == ()


def test_tagged_scalars_keep_their_type(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    scale: 1\n",
            "compose.override.yaml": "services:\n  web:\n    scale: !override 3\n"
            "    image: !override '3'\n",
        },
    )
    web = load(tmp_path).service("web")
    assert web.replicas == 3 and web.image == "3"


def test_override_replaces_a_whole_service_and_reset_removes_it(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    ports: ['80:80']\n"
            "    environment: {A: '1'}\n  tool:\n    image: t\n",
            "compose.override.yaml": "services:\n  web: !override\n    image: b\n  tool: !reset\n",
        },
    )
    stack = load(tmp_path)
    assert list(stack.services) == ["web"]
    web = stack.service("web")
    assert (web.image, web.ports, dict(web.environment)) == ("b", (), {})


def test_a_later_reset_does_not_touch_a_service_sharing_the_anchor(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "x-web: &web\n  image: a\n  ports: ['80']\n"
            "services:\n  one: *web\n  two: *web\n",
            "compose.override.yaml": "services:\n  one:\n    ports: !reset []\n",
        },
    )
    stack = load(tmp_path)
    assert stack.service("one").ports == ()
    assert len(stack.service("two").ports) == 1


def test_an_unknown_tag_is_ignored_with_a_warning(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    ports: ['80']\n",
            "compose.override.yaml": "services:\n  web:\n    ports: !rest ['81']\n",
        },
    )
    stack = load(tmp_path)
    assert len(stack.service("web").ports) == 2  # merged, as docker compose does
    (warning,) = [w for w in stack.warnings if "!rest" in w]
    assert "services.web.ports" in warning and "did you mean !reset?" in warning


def test_an_empty_compose_file_is_an_error_naming_it(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": "# nothing yet\n"})
    result = run_cli(tmp_path, "config")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    first, hint = result.stderr.strip().splitlines()
    assert first == f"devenv: {tmp_path / 'compose.yaml'}: empty Compose file"
    assert hint.startswith("  hint: define at least one service under `services:`")


def test_an_empty_override_file_is_fine(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"compose.yaml": "services:\n  web: {image: a}\n", "compose.override.yaml": ""},
    )
    assert list(load(tmp_path).services) == ["web"]


def test_extending_a_service_of_another_file_says_how(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n  base: {image: a}\n",
            "compose.override.yaml": "services:\n  web:\n    extends: base\n",
        },
    )
    with pytest.raises(ConfigError) as caught:
        load(tmp_path)
    error = caught.value
    assert (error.file, error.line, error.service) == (
        str(tmp_path / "compose.override.yaml"),
        3,
        "web",
    )
    assert error.hint is not None and "extends: {file: FILE, service: NAME}" in error.hint


def test_project_directory_through_the_cli(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "files/compose.yaml": "services:\n  web:\n    image: 'web-${TAG}'\n"
            "    volumes: ['./data:/data']\n",
            "proj/.env": "TAG=proj\n",
            "proj/.env.example": "TAG=example\n",
        },
    )
    result = run_cli(
        tmp_path, "-f", "files/compose.yaml", "--project-directory", "proj", "config", "--json"
    )
    assert result.returncode == 0, result.stderr
    assert '"name": "proj"' in result.stdout and '"image": "web-proj"' in result.stdout
    assert str(tmp_path / "proj" / "data") in result.stdout

    (tmp_path / "proj" / ".env").unlink()
    init = run_cli(tmp_path, "init", "--project-directory", "proj", "-f", "files/compose.yaml")
    assert init.returncode == 0, init.stderr
    assert (tmp_path / "proj" / ".env").read_text() == "TAG=example\n"

    missing = run_cli(tmp_path, "--project-directory", "nosuch", "config")
    assert missing.returncode == 1
    assert f"{tmp_path / 'nosuch'}: project directory not found" in missing.stderr
    assert "hint: check --project-directory" in missing.stderr


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.5, 0.5),
        ("0.5", 0.5),
        ("2", 2),
        (1.0, 1),
        ("1.5e0", 1.5),
        (-1, -1),
        ("0.000001", 1e-06),
        ("0.1", 0.1),  # single precision, printed as the shortest decimal: 0.1
        ("12345678901234567890", 12345679000000000000),
        (0, None),
        ("0", None),
    ],
)
def test_cpus_print_as_compose_prints_them(value: object, expected: object) -> None:
    assert cpu_count(value) == expected
    assert type(cpu_count(value)) is type(expected)


@pytest.mark.parametrize("value", ["abc", " 2 ", "1,5", "1e400", True, None, [1]])
def test_cpus_that_are_not_a_number_are_refused(value: object) -> None:
    with pytest.raises(ValueError):
        cpu_count(value)
