"""Bad input never crashes: each case runs the real CLI (`python -m devenv config`)
and must exit non-zero with a short message naming the file, the line, the
service and the key, with a hint — and no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import run_cli, write

# (id, files, extra env, substrings the message must contain)
CASES: list[tuple[str, dict[str, str], dict[str, str], list[str]]] = [
    (
        "broken-yaml",
        {"compose.yaml": "services:\n  api:\n    image: x\n    ports: [80:80\n"},
        {},
        ["compose.yaml:4", "invalid YAML", "hint:"],
    ),
    (
        "tab",
        {"compose.yaml": "services:\n  api:\n\timage: x\n"},
        {},
        ["compose.yaml:3", "tab", "hint: YAML indentation must use spaces"],
    ),
    (
        "list-for-mapping",
        {"compose.yaml": "services:\n  - api\n"},
        {},
        ["compose.yaml:1", "`services` must be a mapping, not a list", "hint:"],
    ),
    (
        "service-not-mapping",
        {"compose.yaml": "services:\n  api: [image, x]\n"},
        {},
        ["compose.yaml", "service 'api'", "must be a mapping"],
    ),
    (
        "environment-wrong-type",
        {"compose.yaml": "services:\n  api:\n    image: x\n    environment: 5\n"},
        {},
        ["compose.yaml:4", "service 'api'", "environment", "hint:"],
    ),
    (
        "unknown-dependency",
        {
            "compose.yaml": "services:\n  api:\n    image: x\n    depends_on: [dbx]\n"
            "  db:\n    image: y\n"
        },
        {},
        [
            "compose.yaml:4",
            "service 'api'",
            "depends_on.dbx",
            "unknown service 'dbx'",
            "did you mean db?",
        ],
    ),
    (
        "dependency-cycle",
        {
            "compose.yaml": "services:\n  a:\n    image: x\n    depends_on: [b]\n"
            "  b:\n    image: y\n    depends_on: [c]\n  c:\n    image: z\n    depends_on: [a]\n"
        },
        {},
        ["compose.yaml:4", "dependency cycle: a -> b -> c -> a", "hint:"],
    ),
    (
        "bad-port",
        {"compose.yaml": 'services:\n  api:\n    image: x\n    ports: ["99999:80"]\n'},
        {},
        ["compose.yaml:4", "service 'api'", "ports[0]", "not a valid port", "hint:"],
    ),
    (
        "bad-duration",
        {
            "compose.yaml": "services:\n  api:\n    image: x\n"
            "    healthcheck:\n      test: [CMD, 'true']\n      interval: 10 seconds\n"
        },
        {},
        ["compose.yaml:6", "service 'api'", "healthcheck.interval", "not a duration", "hint:"],
    ),
    (
        "bare-number-duration",
        {
            "compose.yaml": "services:\n  api:\n    image: x\n"
            "    healthcheck:\n      test: [CMD, 'true']\n      interval: 10\n"
        },
        {},
        ["compose.yaml:6", "healthcheck.interval", "hint: write e.g. 10s"],
    ),
    (
        "bad-condition",
        {
            "compose.yaml": "services:\n  api:\n    image: x\n    depends_on:\n"
            "      db: {condition: service_healty}\n  db:\n    image: y\n"
        },
        {},
        [
            "compose.yaml:5",
            "service 'api'",
            "depends_on.db.condition",
            "did you mean service_healthy?",
        ],
    ),
    (
        "missing-required-variable",
        {"compose.yaml": 'services:\n  api:\n    image: "${TAG:?set TAG to the release}"\n'},
        {},
        ["compose.yaml:3", "service 'api'", "image", "TAG", "set TAG to the release", "hint:"],
    ),
    (
        "malformed-interpolation",
        {"compose.yaml": "services:\n  api:\n    image: ${TAG\n"},
        {},
        [
            "compose.yaml:3",
            "service 'api'",
            "invalid interpolation",
            "hint: write a literal $ as $$",
        ],
    ),
    (
        "missing-env-file",
        {"compose.yaml": "services:\n  api:\n    image: x\n    env_file: missing.env\n"},
        {},
        ["compose.yaml:4", "service 'api'", "env_file[0]", "missing.env", "hint:"],
    ),
    (
        "missing-extends-file",
        {"compose.yaml": "services:\n  api:\n    extends: {file: nope.yaml, service: base}\n"},
        {},
        ["compose.yaml:3", "service 'api'", "extends.file", "nope.yaml", "hint:"],
    ),
    (
        "unknown-extends-service",
        {"compose.yaml": "services:\n  api:\n    extends: bse\n  base:\n    image: x\n"},
        {},
        ["compose.yaml", "service 'api'", "unknown service 'bse'", "did you mean base?"],
    ),
    (
        "extends-cycle",
        {"compose.yaml": "services:\n  a:\n    extends: b\n  b:\n    extends: a\n    image: x\n"},
        {},
        ["compose.yaml:3", "service 'a'", "extends cycle: a -> b -> a"],
    ),
    (
        "include-conflict",
        {
            "compose.yaml": "include:\n  - one.yaml\n  - two.yaml\nservices: {}\n",
            "one.yaml": "services:\n  a:\n    image: one\n",
            "two.yaml": "services:\n  a:\n    image: two\n",
        },
        {},
        ["compose.yaml:3", "include[1].path", "services.a", "hint:"],
    ),
    (
        "missing-include-file",
        {"compose.yaml": "include: [nope/compose.yaml]\nservices: {}\n"},
        {},
        ["compose.yaml:1", "include[0]", "nope/compose.yaml", "hint:"],
    ),
    (
        "xdevenv-typo",
        {
            "compose.yaml": "services:\n  api:\n    x-devenv:\n      run: python app.py\n"
            "      wach: [src]\n"
        },
        {},
        ["compose.yaml:5", "service 'api'", "x-devenv.wach", "did you mean watch?"],
    ),
    (
        "xdevenv-without-run",
        {"compose.yaml": "services:\n  api:\n    x-devenv:\n      cwd: src\n"},
        {},
        ["compose.yaml:3", "service 'api'", "x-devenv.run", "hint:"],
    ),
    (
        "xdevenv-ready-typo",
        {"compose.yaml": "services:\n  api:\n    x-devenv: {run: x, ready: {htp: 'http://x'}}\n"},
        {},
        ["compose.yaml:3", "x-devenv.ready.htp", "did you mean http?"],
    ),
    (
        "xdevenv-bad-port",
        {"compose.yaml": "services:\n  api:\n    x-devenv:\n      run: x\n      ports: [abc]\n"},
        {},
        ["compose.yaml:5", "x-devenv.ports[0]", "whole number"],
    ),
    (
        "xdevenv-bad-restart",
        {
            "compose.yaml": "services:\n  api:\n    x-devenv:\n      run: x\n"
            "      restart: allways\n"
        },
        {},
        ["compose.yaml:5", "x-devenv.restart", "did you mean always?"],
    ),
    (
        "xdevenv-build-step-typo",
        {
            "compose.yaml": "services:\n  api:\n    x-devenv:\n      run: ./bin/api\n"
            "      build:\n        - run: go build -o bin/api .\n          wen: [go.mod]\n"
        },
        {},
        ["compose.yaml:7", "service 'api'", "x-devenv.build[0].wen", "did you mean when?"],
    ),
    (
        "xdevenv-build-mixed-list",
        {
            "compose.yaml": "services:\n  api:\n    x-devenv:\n      run: ./bin/api\n"
            "      build:\n        - {run: npm ci, when: [package-lock.json]}\n"
            "        - npm run build\n"
        },
        {},
        ["compose.yaml:7", "x-devenv.build[1]", "hint:", "- run: npm run build"],
    ),
    (
        "xdevenv-mode-container-without-image",
        {"compose.yaml": "services:\n  api:\n    x-devenv:\n      run: x\n      mode: container\n"},
        {},
        ["compose.yaml:5", "service 'api'", "x-devenv.mode", "image", "hint:"],
    ),
    (
        "xdevenv-mode-typo",
        {"compose.yaml": "services:\n  api:\n    x-devenv:\n      run: x\n      mode: lcoal\n"},
        {},
        ["compose.yaml:5", "x-devenv.mode", "did you mean local?"],
    ),
    (
        "xdevenv-handover-without-ports",
        {"compose.yaml": "services:\n  api:\n    x-devenv:\n      run: x\n      handover: true\n"},
        {},
        ["compose.yaml:5", "x-devenv.handover", "x-devenv.ports", "hint:"],
    ),
    (
        "xdevenv-health-interval",
        {
            "compose.yaml": "services:\n  api:\n    x-devenv:\n      run: x\n"
            "      ready: {tcp: 3000, health_interval: often}\n"
        },
        {},
        ["compose.yaml:5", "x-devenv.ready.health_interval", "hint: write e.g."],
    ),
    (
        "develop-watch-bad-action",
        {
            "compose.yaml": "services:\n  api:\n    image: x\n    develop:\n      watch:\n"
            "        - {path: ./src, action: rebuld}\n"
        },
        {},
        ["compose.yaml:6", "service 'api'", "develop.watch[0].action", "did you mean rebuild?"],
    ),
    (
        "develop-watch-sync-without-target",
        {
            "compose.yaml": "services:\n  api:\n    image: x\n    develop:\n      watch:\n"
            "        - {path: ./src, action: sync}\n"
        },
        {},
        ["compose.yaml:6", "develop.watch[0]", "target", "hint:"],
    ),
    (
        "develop-watch-unknown-key",
        {
            "compose.yaml": "services:\n  api:\n    image: x\n    develop:\n      watch:\n"
            "        - path: ./src\n          action: rebuild\n          ignores: [a]\n"
        },
        {},
        ["compose.yaml:8", "develop.watch[0].ignores", "did you mean ignore?"],
    ),
    (
        "develop-exec-without-command",
        {
            "compose.yaml": "services:\n  api:\n    image: x\n    develop:\n      watch:\n"
            "        - path: ./src\n          action: sync+exec\n          target: /app\n"
            "          exec: {user: root}\n"
        },
        {},
        ["compose.yaml:9", "develop.watch[0].exec", "needs `command`", "hint:"],
    ),
    (
        "scale-and-replicas-differ",
        {
            "compose.yaml": "services:\n  api:\n    image: x\n    scale: 2\n"
            "    deploy: {replicas: 3}\n"
        },
        {},
        ["compose.yaml:4", "service 'api'", "scale", "deploy.replicas", "hint:"],
    ),
    (
        "broken-dotenv-line",
        {
            "compose.yaml": "services:\n  api:\n    image: x\n",
            ".env": "GOOD=1\nthis line is broken\n",
        },
        {},
        [".env:2", "cannot parse", "hint:"],
    ),
    (
        "broken-env-file-line",
        {
            "compose.yaml": "services:\n  api:\n    image: x\n    env_file: app.env\n",
            "app.env": "A=1\nB='unclosed\n",
        },
        {},
        ["app.env:2", "service 'api'", "cannot parse"],
    ),
    (
        "unknown-service-key",
        {"compose.yaml": "services:\n  api:\n    imag: x\n"},
        {},
        ["compose.yaml:3", "service 'api'", "imag", "did you mean image?"],
    ),
    (
        "unknown-top-level-key",
        {"compose.yaml": "servics:\n  api:\n    image: x\n"},
        {},
        ["compose.yaml:1", "servics", "did you mean services?"],
    ),
    (
        "duplicate-key",
        {"compose.yaml": "services:\n  api:\n    image: x\n    image: y\n"},
        {},
        ["compose.yaml:4", "appears twice"],
    ),
    (
        "no-image-no-build",
        {"compose.yaml": "services:\n  api:\n    command: x\n"},
        {},
        ["compose.yaml", "service 'api'", "neither an image nor a build", "hint:"],
    ),
    (
        "dependency-in-disabled-profile",
        {
            "compose.yaml": "services:\n  api:\n    image: x\n    depends_on: [debug]\n"
            "  debug:\n    image: y\n    profiles: [dbg]\n"
        },
        {},
        ["compose.yaml:4", "service 'api'", "profile", "hint: enable it with --profile dbg"],
    ),
    (
        "bad-project-name",
        {
            "compose.yaml": "services:\n  api:\n    image: x\n",
            ".env": "COMPOSE_PROJECT_NAME=Bad Name\n",
        },
        {},
        ["invalid project name 'Bad Name'", "COMPOSE_PROJECT_NAME", "hint: try 'badname'"],
    ),
    (
        "no-compose-file",
        {"readme.txt": "nothing here\n"},
        {},
        ["no Compose file found", "hint:"],
    ),
]


@pytest.mark.parametrize(
    ("files", "env", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_a_short_error(
    tmp_path: Path, files: dict[str, str], env: dict[str, str], expected: list[str]
) -> None:
    project = write(tmp_path / "proj", files)
    result = run_cli(project, "config", env=env)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    message = result.stderr
    assert message.startswith("devenv: "), message
    assert len(message.strip().splitlines()) <= 3, message
    for part in expected:
        assert part in message, f"{part!r} not in:\n{message}"
