"""Headless output of pulls and builds: a few lines per image, not one per report."""

from __future__ import annotations

import asyncio
import io

from devenv.commands.headless import Printer
from devenv.events import Progress


def printed(events: list[Progress]) -> list[str]:
    out = io.BytesIO()

    async def feed() -> None:
        printer = Printer(out, ["postgres"], color=False)
        for event in events:
            printer.event(event)
        printer.flush()

    asyncio.run(feed())
    return out.getvalue().decode().splitlines()


def pull(status: str, current: int | None = None, total: int | None = None) -> Progress:
    return Progress("postgres", "postgres", "pull", status, current, total)


def test_a_pull_prints_phases_and_every_fifth_of_the_download() -> None:
    total = 50_000_000
    events = [pull("pulling postgres:16", None, None)]
    events += [pull("Downloading", done, total) for done in range(0, total + 1, total // 100)]
    events += [pull("Extracting", total, total), pull("pulled postgres:16")]
    lines = printed(events)
    assert lines[0] == "postgres | -- pull: pulling postgres:16"
    downloads = [line for line in lines if "Downloading" in line]
    assert [line.split()[5] for line in downloads] == ["0%", "20%", "40%", "60%", "80%", "100%"]
    assert downloads[-1].endswith("(50.0 MB of 50.0 MB)")
    assert lines[-2:] == [
        "postgres | -- pull: Extracting 100% (50.0 MB of 50.0 MB)",
        "postgres | -- pull: pulled postgres:16",
    ]


def test_build_output_is_left_to_the_log_and_only_start_and_end_are_noted() -> None:
    events = [
        Progress("postgres", "postgres", "build", "building app:dev"),
        Progress("postgres", "postgres", "build", "Step 1/3 : FROM debian"),
        Progress("postgres", "postgres", "build", "built app:dev"),
    ]
    assert printed(events) == [
        "postgres | -- build: building app:dev",
        "postgres | -- build: built app:dev",
    ]
