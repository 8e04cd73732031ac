"""`devenv attach --web` in headless Chromium: the token gate, the UI in the page
(a screenshot is kept), and a key pressed in the browser acting on the session."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest
from chromium_driver import Browser, chromium_binary
from control_support import (
    cli,
    project,  # noqa: F401 (fixture)
    unit,
)
from engine_support import hang_guard, pid_alive  # noqa: F401 (autouse fixture)

pytestmark = pytest.mark.skipif(
    chromium_binary() is None and os.environ.get("CI") != "true",
    reason="needs Debian's chromium package (.ci/run installs it)",
)


def http_status(url: str, host: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_attach_web_behind_a_token(project: Path, tmp_path: Path) -> None:  # noqa: F811
    assert cli(project, "start", "-d", "api", "worker").returncode == 0
    web = subprocess.Popen(
        [sys.executable, "-m", "devenv", "attach", "--web"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert web.stdout is not None
        first = web.stdout.readline()
        found = re.search(r"(http://127\.0\.0\.1:(\d+)/)\?token=(\S+)", first)
        assert found, first
        url, base, port = found.group(0), found.group(1), found.group(2)

        assert http_status(base) == 403  # no token
        assert http_status(base + "?token=guess") == 403
        assert http_status(base + "ws") == 403
        assert http_status(url, host=f"evil.example:{port}") == 403  # DNS rebinding
        assert http_status(url) == 200

        old_pid = unit(project, "api")["pid"]
        shot = Path(os.environ.get("DEVENV_SCREENSHOTS", tmp_path)) / "attach-web.png"

        async def browse() -> None:
            async with Browser() as page:
                await page.call("Page.navigate", url=url)
                # the page's script adds -first-byte once the app's first output arrived
                await page.wait_for("document.body.classList.contains('-first-byte')", 60)
                # keys go to xterm.js's hidden textarea, as when a user clicks the page
                await page.wait_for(
                    "(() => { const t = document.querySelector('.xterm-helper-textarea');"
                    " if (t) t.focus(); return document.activeElement === t; })()"
                )
                # the UI is drawn on a canvas: the page cannot be read as text, so the
                # proof it is live is a key pressed in it acting on the session
                deadline = time.monotonic() + 60
                while unit(project, "api")["pid"] in (None, old_pid):
                    assert time.monotonic() < deadline, "r in the browser restarted nothing"
                    await page.press("r")  # the first row (api) is selected
                    for _ in range(30):
                        await asyncio.sleep(0.1)
                        if unit(project, "api")["pid"] not in (None, old_pid):
                            break
                await page.screenshot(shot)

        asyncio.run(browse())
        assert shot.stat().st_size > 10_000
        print(f"screenshot: {shot}")

        # a tab still open when the server stops: its UI process goes with it
        async def leave_open() -> list[int]:
            async with Browser() as page:
                await page.call("Page.navigate", url=url)
                await page.wait_for("document.body.classList.contains('-first-byte')", 60)
                tabs = [p.pid for p in psutil.Process(web.pid).children(recursive=True)]
                web.terminate()
                assert web.wait(timeout=20) == 0
                return tabs

        tabs = asyncio.run(leave_open())
        assert tabs and not [pid for pid in tabs if pid_alive(pid)]
    finally:
        web.terminate()
        web.wait(timeout=20)
