"""The CLI's client of the control socket: one request over AF_UNIX
(devenv/control/http1.py), so `devenv status --json` costs Python's start-up
and a few milliseconds. Answers are plain JSON, not decoded into the
contract's classes (that would import the config model).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from devenv.control import http1
from devenv.control.paths import socket_path, state_dir_of
from devenv.errors import DevenvError, SelectionError

NO_SESSION_EXIT = 3  # documented: "no session is running" for commands that need one


class NoSession(DevenvError):
    """No devenv session runs for this project."""

    exit_code = NO_SESSION_EXIT


class ControlError(DevenvError):
    """The session refused a request (bad input, a command that failed)."""


class UnknownName(SelectionError):
    """A service name the session does not know (the message names the known ones)."""


class Session:
    """A running session, reached through its socket."""

    def __init__(self, path: Path, state_dir: Path) -> None:
        self.path = path
        self.state_dir = state_dir

    def request(
        self, method: str, path: str, body: Any = None, *, timeout: float | None = 30.0
    ) -> Any:
        payload = json.dumps(body).encode() if body is not None else None
        try:
            response = http1.request(self.path, method, path, payload, timeout=timeout)
            try:
                data = response.read()
            finally:
                response.close()
        except (FileNotFoundError, ConnectionRefusedError):
            raise no_session() from None
        except (ConnectionError, http1.HttpError) as error:
            raise ControlError(
                f"the devenv session ended before it answered ({error.__class__.__name__})",
                hint="`devenv status` shows whether it still runs; its output is in "
                ".devenv/session.log when it ran with -d",
            ) from None
        return answer(response.status, data)

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", _with_query(path, query))

    def post(self, path: str, body: Any, *, timeout: float | None = 30.0) -> Any:
        return self.request("POST", path, body, timeout=timeout)

    def stream(self, path: str, **query: Any) -> Iterator[dict[str, Any]]:
        """The objects of an NDJSON answer, as they arrive."""
        try:
            response = http1.request(self.path, "GET", _with_query(path, query))
        except (FileNotFoundError, ConnectionRefusedError):
            raise no_session() from None
        except (ConnectionError, http1.HttpError):
            return  # the session ended: so does the stream
        try:
            if response.status != 200:
                answer(response.status, response.read())
            for line in response.lines():
                if line.strip():
                    yield json.loads(line)
        except (ConnectionError, http1.HttpError):
            return  # the session ended: so does the stream
        finally:
            response.close()


def _with_query(path: str, query: dict[str, Any]) -> str:
    clean = {k: v for k, v in query.items() if v is not None}
    return f"{path}?{urlencode(clean, doseq=True)}" if clean else path


def answer(status: int, data: bytes) -> Any:
    try:
        value = json.loads(data) if data else None
    except ValueError:
        value = {"error": data.decode("utf-8", "replace")}
    if status < 400:
        return value
    message = value.get("message") or value.get("error") if isinstance(value, dict) else None
    hint = value.get("hint") if isinstance(value, dict) else None
    cls = UnknownName if status == 404 else ControlError
    raise cls(str(message or f"the session answered {status}"), hint=hint)


def find_session(state_dir: Path, *, remove_stale: bool = True) -> Session | None:
    """The session of this state directory, or None. A socket left by a session
    that was killed (nobody listens, its pid is gone) is removed on the way."""
    path = socket_path(state_dir)
    try:
        inode = path.stat().st_ino
    except OSError:
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        try:
            sock.connect(os.fspath(path))
        except FileNotFoundError:
            return None
        except OSError as error:
            if error.errno in (errno.ECONNREFUSED, errno.ENOTSOCK):
                if remove_stale:
                    _remove_stale(path, state_dir, inode)
                return None
            if error.errno == errno.EACCES:
                raise DevenvError(
                    f"the control socket {path} is not yours",
                    hint="run devenv as the user who started the session",
                ) from None
            raise
    return Session(path, state_dir)


def live_pid(state_dir: Path) -> int | None:
    """The pid of the session named in the state directory, if it still runs."""
    from devenv.engine.statefile import running_pid

    pid = running_pid(state_dir)
    return pid if pid is not None and _alive(pid) else None


def _remove_stale(path: Path, state_dir: Path, inode: int) -> None:
    if live_pid(state_dir) is not None and path.is_socket():
        return  # its session runs (and may be starting its server): not ours to remove
    with contextlib.suppress(OSError):
        if path.stat().st_ino == inode:  # not a new session's socket, bound meanwhile
            path.unlink()


def _alive(pid: int) -> bool:
    """Running, not a zombie (a killed session whose parent has not reaped it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return not os.path.isdir("/proc")  # no /proc: trust running_pid


def connect(args: argparse.Namespace) -> Session:
    """The running session of the project named by `args`, or NoSession."""
    state_dir = state_dir_of(args)
    session = find_session(state_dir)
    if session is None:
        raise no_session()
    return session


def no_session() -> NoSession:
    return NoSession(
        "no devenv session is running for this project: "
        "start one with `devenv start -d` (in the background) or `devenv` (with the UI)"
    )
