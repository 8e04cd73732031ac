"""The one env-file reader: `.env`, `env_file`, an include's env files and
`x-devenv.env_file` (read by config at load and by the runtime at each start)
follow the same rules, Compose's."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import load, write

from devenv.config.compose.envfile import env_file_values, read_dotenv, read_env_file
from devenv.errors import ConfigError
from devenv.runtime.process import build_env

RULES = """\
PLAIN=1
SHADOWED=from-file
USES_SHADOWED=${SHADOWED}
USES_PLAIN=${PLAIN}-a
LITERAL='${PLAIN} stays'
DOUBLE="${PLAIN} expands"
export EXPORTED=yes
BARE_SET
BARE_UNSET
WITH_DEFAULT=${NOPE:-dflt}
"""


def test_compose_rules(tmp_path: Path) -> None:
    path = write(tmp_path, {"a.env": RULES}) / "a.env"
    values = env_file_values(path, {"SHADOWED": "project", "BARE_SET": "v"})
    assert values == {
        "PLAIN": "1",
        "SHADOWED": "from-file",
        "USES_SHADOWED": "project",  # the project's variables first
        "USES_PLAIN": "1-a",  # then the lines above
        "LITERAL": "${PLAIN} stays",
        "DOUBLE": "1 expands",
        "EXPORTED": "yes",
        "BARE_SET": "v",
        "WITH_DEFAULT": "dflt",
    }
    assert read_env_file(path)["BARE_UNSET"] is None  # raw: nothing expanded
    assert read_env_file(path)["USES_PLAIN"] == "${PLAIN}-a"
    assert env_file_values(path, {}, earlier={"SHADOWED": "earlier"})["USES_SHADOWED"] == (
        "from-file"
    )


def test_a_dotenv_is_read_the_same_way(tmp_path: Path) -> None:
    path = write(tmp_path, {".env": "A=1\nB=${A}-${HOME}\nC='${A}'\n"}) / ".env"
    assert read_dotenv(path, {"HOME": "/h"}) == {"A": "1", "B": "1-/h", "C": "${A}"}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("A=1\nB='unclosed\n", 2, "cannot parse this line"),
        ("A=1\nB=${A\n", 2, "B"),
        ("# comment\nA=${NEED:?set NEED}\n", 2, "set NEED"),
    ],
)
def test_bad_files_are_errors_with_file_and_line(
    tmp_path: Path, text: str, line: int | None, message: str
) -> None:
    path = write(tmp_path, {"bad.env": text}) / "bad.env"
    with pytest.raises(ConfigError) as caught:
        env_file_values(path, {}, service="api", key="env_file[0]")
    error = caught.value
    assert error.file == str(path) and error.service == "api"
    assert error.line == line
    assert message in str(error)


def test_a_missing_file_says_how_to_fix_it_where_it_was_named(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"compose.yaml": "services:\n  api:\n    image: x\n    env_file: [nope.env]\n"},
    )
    with pytest.raises(ConfigError) as caught:
        load(tmp_path)
    assert caught.value.line == 4 and "required: false" in str(caught.value)
    write(
        tmp_path,
        {"compose.yaml": "services:\n  api:\n    x-devenv: {run: x, env_file: nope.env}\n"},
    )
    with pytest.raises(ConfigError) as caught:
        load(tmp_path)
    assert caught.value.key == "x-devenv.env_file[0]"
    assert caught.value.hint is not None and "x-devenv.env_file" in caught.value.hint
    assert "required: false" not in caught.value.hint


def test_the_runtime_reads_x_devenv_env_files_with_the_same_rules_at_each_start(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n  api:\n    x-devenv: {run: x, env_file: local.env}\n",
            ".env": "NAME=project\n",
            "local.env": "GREETING=hello ${NAME}\nRAW='${NAME}'\n",
        },
    )
    stack = load(tmp_path)
    api = stack.service("api")

    def env() -> dict[str, str]:
        return build_env(
            api,
            dict(stack.variables),
            unit="api",
            replica=1,
            ports=(),
            instance="x/",
            base={},
            stack=stack,
        )

    assert (env()["GREETING"], env()["RAW"]) == ("hello project", "${NAME}")
    (tmp_path / "local.env").write_text("GREETING=edited\n")
    assert env()["GREETING"] == "edited"  # read again, not cached at load
