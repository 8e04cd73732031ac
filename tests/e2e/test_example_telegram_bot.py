"""examples/telegram-bot end to end, in dev mode (the engine in-process, as
`devenv start --container backend --container bot` starts it).

PostgreSQL and Redis in containers; the migrations one-shot (a local process)
applies backend/migrations/*.sql and exits 0 before the backend starts; the
backend and the bot run as containers, the Vite dev server locally (its
packages installed by its `npm ci` build step). An update posted to the bot's
webhook is handled: the bot asks the backend, which stores it in PostgreSQL,
and the reply comes back in the webhook's response; the mini-app's dev server
shows it through its proxy.

Then the backend is flipped to a local process and back while the bot, a
container, keeps handling updates: devenv points the bot at
host.docker.internal while the backend runs on the host, and back at
`backend:8000` after (each flip recreates the bot with its new address).
Stopping leaves nothing running.

The backend and bot images are built once per module and removed at the end."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from example_engine import (
    IMAGE_TAG,
    ExampleImages,
    ahttp,
    leftovers,
    ready,
    require_modules,
    rewrites,
    running,
    unit,
    until,
    write_env,
)
from example_stack import EXAMPLES, copy_example, free_port, http, remove_project, require_tools

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TOKEN = "123456789:AAlocal-development-token-not-real00"


@pytest.fixture(scope="module")
def images(docker_client: Any) -> Iterator[ExampleImages]:
    built = ExampleImages("telegram-bot", ("docker-compose.yml",), ("backend", "bot"))
    built.build(docker_client)
    yield built
    built.remove(docker_client)


@pytest.fixture
def example(tmp_path: Path, docker_client: Any) -> Iterator[tuple[Path, dict[str, int], str]]:
    require_tools("node", "npm")
    require_modules(
        "fastapi",
        "uvicorn",
        "psycopg",
        "redis",
        hint="bash .ci/toolchains.sh installs examples/telegram-bot/requirements.txt",
    )
    copy = copy_example("telegram-bot", tmp_path, ignore=["node_modules"])
    project = f"dvttgbot{uuid.uuid4().hex[:8]}"
    ports = {
        name: free_port()
        for name in ("POSTGRES_PORT", "REDIS_PORT", "BACKEND_PORT", "BOT_PORT", "FRONTEND_PORT")
    }
    yield copy, ports, project
    remove_project(docker_client, project)


def update(update_id: int, text: str, chat: int = 77) -> dict[str, Any]:
    """A Telegram Update as Telegram posts it to a webhook."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000,
            "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": False, "first_name": "Ada", "username": "ada"},
            "text": text,
        },
    }


def test_the_bot_refuses_to_start_without_a_token() -> None:
    require_modules("fastapi", "uvicorn", hint="bash .ci/toolchains.sh")
    result = subprocess.run(
        [sys.executable, "-m", "telegram_bot"],
        cwd=EXAMPLES / "telegram-bot" / "bot",
        env={"PATH": "/usr/bin:/bin", "TELEGRAM_BOT_TOKEN": ""},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert "TELEGRAM_BOT_TOKEN is not set" in result.stderr
    assert "Traceback" not in result.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "telegram_bot"],
        cwd=EXAMPLES / "telegram-bot" / "bot",
        env={"PATH": "/usr/bin:/bin", "TELEGRAM_BOT_TOKEN": "changeme"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 2 and "does not look like a bot token" in bad.stderr


async def test_dev_mode_flip_the_backend_while_the_bot_container_keeps_answering(
    images: ExampleImages,
    example: tuple[Path, dict[str, int], str],
    docker_client: Any,
) -> None:
    copy, ports, project = example
    write_env(
        copy,
        {
            "COMPOSE_PROJECT_NAME": project,
            "IMAGE_TAG": IMAGE_TAG,
            "PYTHON": sys.executable,
            "HEALTH_INTERVAL": "1s",
            "TELEGRAM_BOT_TOKEN": TOKEN,
            **ports,
        },
    )
    bot = f"http://127.0.0.1:{ports['BOT_PORT']}"
    backend = f"http://127.0.0.1:{ports['BACKEND_PORT']}"
    frontend = f"http://127.0.0.1:{ports['FRONTEND_PORT']}"
    sent = 0

    async def message_handled(text: str) -> None:
        """An update through the bot's webhook: the reply names the stored message."""
        nonlocal sent
        sent += 1

        def post() -> tuple[int, Any] | None:
            status, body = http("POST", f"{bot}/webhook", update(sent, text))
            return (status, body) if status == 200 else None

        _, body = await until(post, 60, f"the bot handling {text!r}")
        assert body["method"] == "sendMessage" and body["chat_id"] == 77, body
        assert body["text"].startswith("#") and body["text"].endswith(f": {text}"), body

    async with running(copy, container=["backend", "bot"]) as engine:
        await ready(
            engine,
            ["postgres", "redis", "migrations", "backend", "bot", "frontend"],
            timeout=240,
        )
        # The one-shot ran before the backend, and applied both files.
        assert unit(engine, "migrations").exit_code == 0
        log = "\n".join(r.text for r in engine.logs("migrations"))
        assert "applied 0001_users_and_messages.sql" in log and "applied 0002_replies.sql" in log
        status, body = await ahttp("GET", f"{backend}/health")
        assert status == 200 and body["schema"] == "0002_replies", body
        assert body["version"] == "container"

        await message_handled("hello from the container days")
        # The mini-app's dev server (local) proxies /api to the backend (container).
        status, listed = await ahttp("GET", f"{frontend}/api/messages")
        assert status == 200 and listed[0]["text"] == "hello from the container days", listed
        assert rewrites(engine, "frontend")["BACKEND_URL"] == ("http://backend:8000", backend)
        assert "BACKEND_URL" not in rewrites(engine, "bot")  # container to container: as written

        # The backend becomes a local process: the bot container now reaches it on the host.
        bot_before = unit(engine, "bot").started_at
        await engine.set_mode("backend", "process")
        assert unit(engine, "backend").kind == "process"
        await ready(engine, ["backend", "bot"], timeout=90)
        assert rewrites(engine, "bot")["BACKEND_URL"] == (
            "http://backend:8000",
            f"http://host.docker.internal:{ports['BACKEND_PORT']}",
        )
        assert rewrites(engine, "backend")["DATABASE_URL"][1] == (
            f"postgresql://telegram:telegram@127.0.0.1:{ports['POSTGRES_PORT']}/telegram"
        )
        status, body = await ahttp("GET", f"{backend}/health")
        assert status == 200 and body["version"] == "dev", body
        assert body["pid"] == unit(engine, "backend").pid
        await message_handled("now the backend runs on the host")
        assert (unit(engine, "bot").started_at or 0) > (bot_before or 0)  # recreated, new address

        # ...and back to its container.
        await engine.set_mode("backend", "container")
        assert unit(engine, "backend").kind == "container"
        await ready(engine, ["backend", "bot"], timeout=90)
        assert "BACKEND_URL" not in rewrites(engine, "bot")
        status, body = await ahttp("GET", f"{backend}/health")
        assert status == 200 and body["version"] == "container", body
        await message_handled("and in its container again")

        # Everything the bot handled is in PostgreSQL, through either backend.
        status, listed = await ahttp("GET", f"{frontend}/api/messages")
        assert [m["text"] for m in listed][:3] == [
            "and in its container again",
            "now the backend runs on the host",
            "hello from the container days",
        ]
    assert leftovers(copy, docker_client, project) == []
