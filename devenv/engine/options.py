"""How an engine is tuned: `EngineOptions`, defaults and the environment's overrides."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from devenv.config.model import Service, Stack
from devenv.runtime.base import Unit, UnitContext


@dataclass
class EngineOptions:
    state_dir: Path | None = None  # default: <project>/.devenv
    log_ring_size: int = 10_000  # lines kept in memory per unit
    log_ring_bytes: int = 16 * 1024 * 1024  # and at most this much (devenv/engine/logs.py)
    log_files: bool = True  # append to <state_dir>/logs/<unit>.log
    log_file_cap: int = 10 * 1024 * 1024  # bytes in a log file before it is rotated
    log_file_count: int = 3  # <unit>.log, .log.1, .log.2: the files kept per unit
    log_retry_interval: float = 5.0  # seconds between attempts to write a failing log file
    log_flush_interval: float = 0.2  # seconds; files are flushed this long after a write
    watch: bool = True
    watch_quiet: float = 0.010  # seconds without changes that end a burst
    watch_step_ms: int = 10  # watchfiles' grouping step
    watch_max_group_ms: int = 500  # watchfiles' longest single batch
    watch_backend: str = "auto"  # "auto" (inotify on Linux, else watchfiles), or force one
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    backoff_reset: float = 10.0  # a run this long forgets earlier crashes
    stop_grace: float | None = None  # overrides every stop_grace_period (tests)
    write_state: bool = True  # devenv.pid and status.json
    watchdog: bool = True  # orphan guard process for when devenv is killed
    subreaper: bool = True  # orphans of services re-parent to devenv (Linux), which reaps them
    stats_interval: float = 2.0
    # Reads the stack again (the same files and selection): with it, edits to the
    # stack's files are applied live; None: no live configuration.
    reload_stack: Callable[[], Stack] | None = None
    # Builds the unit for (service, replica); None: process or container by kind.
    # Lets tests and embedders supply their own Unit implementations.
    unit_factory: Callable[[Service, int, UnitContext], Unit] | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> EngineOptions:
        """Defaults, tuned by DEVENV_WATCH_QUIET_MS, DEVENV_WATCH_STEP_MS,
        DEVENV_WATCH_BACKEND, DEVENV_LOG_LINES, DEVENV_LOG_MEMORY_MB,
        DEVENV_LOG_FILE_MB and DEVENV_LOG_FILES (ignored when not valid)."""
        options = cls()

        def number(name: str) -> float | None:
            try:
                value = float(environ[name])
            except (KeyError, ValueError):
                return None
            return value if value >= 0 else None

        if (quiet := number("DEVENV_WATCH_QUIET_MS")) is not None:
            options.watch_quiet = quiet / 1000
        if (step := number("DEVENV_WATCH_STEP_MS")) is not None and step >= 1:
            options.watch_step_ms = int(step)
        if (lines := number("DEVENV_LOG_LINES")) is not None and lines >= 1:
            options.log_ring_size = int(lines)
        if (megabytes := number("DEVENV_LOG_MEMORY_MB")) is not None and megabytes > 0:
            options.log_ring_bytes = int(megabytes * 1024 * 1024)
        if (megabytes := number("DEVENV_LOG_FILE_MB")) is not None and megabytes > 0:
            options.log_file_cap = int(megabytes * 1024 * 1024)
        if (files := number("DEVENV_LOG_FILES")) is not None and files >= 1:
            options.log_file_count = int(files)
        if environ.get("DEVENV_WATCH_BACKEND") in ("auto", "inotify", "watchfiles"):
            options.watch_backend = environ["DEVENV_WATCH_BACKEND"]
        return options
