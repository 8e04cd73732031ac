"""The supervisor: dependency order, health, restarts, watching, log buffers.

Emits `devenv.events`; knows no UI. Front ends program against `EngineAPI`;
`devenv.engine.supervisor.Engine` is the implementation.

How local services run (text for the README)
--------------------------------------------
- Command: `x-devenv.run` is split like a shell would (quotes respected) and run
  directly; with `shell: true` it runs under `/bin/sh -c`. It runs in `cwd`
  (default: the project directory).
- Environment, later wins: devenv's own environment; the project's `.env` (a
  variable already set in the shell keeps the shell's value, as in Compose);
  `PYTHONUNBUFFERED=1`; the service's `environment` and `env_file`;
  `x-devenv.env_file`; `x-devenv.environment`; then devenv's `DEVENV_SERVICE`,
  `DEVENV_UNIT`, `DEVENV_REPLICA`, `DEVENV_PORT` and `PORT` (the first port; `PORT`
  only when not set already).
- `replicas: N` runs `api-1` … `api-N`; instance n uses every `x-devenv.ports`
  entry plus n-1 (read the port from `$PORT`).
- Each service is its own process group. Stopping sends `stop_signal` (default
  SIGTERM) to the group, waits `stop_grace_period` (default 5 s), then kills the
  group; processes that left the group are found by a marker in their
  environment and killed too. If devenv itself is killed, a small guard process
  it started kills what is left. Dependents stop before their dependencies.
- Start order follows `depends_on` (`service_started`, `service_healthy`,
  `service_completed_successfully`); everything else starts in parallel. A
  dependency that fails leaves its dependents waiting, with the reason shown;
  `required: false` dependencies that cannot start are skipped;
  `restart: true` dependents restart with their dependency.
- Ready: the `x-devenv.ready` probe (`http`, `tcp`, `cmd`, `log`), else the first
  port accepting connections, else started. A probe that keeps failing after
  ready shows the service as unhealthy.
- Restarts: `restart: no | on-failure | always`, with a delay doubling from 0.5 s
  to 30 s while it keeps crashing (state `backoff`), reset after 10 s of uptime.
- Hot reload: one watcher for all `x-devenv.watch` / `develop.watch` paths
  (inotify on Linux, watchfiles elsewhere);
  .git, __pycache__, *.pyc, node_modules, .venv, .devenv and editor swap files are
  ignored, plus `x-devenv.ignore` globs. A change restarts only the services
  watching it; the old instance is stopped at once and the new one started
  after 10 ms without further changes, so a burst (a checkout, a formatter) is
  one restart; a change after the new instance started gives exactly one more.
- Logs: the last 10,000 lines per service in memory and `.devenv/logs/<unit>.log`
  (rotated once at 10 MiB). Invalid UTF-8 is replaced, ANSI colours are kept, a
  `\\r` progress line keeps its last state, lines over 64 KiB are split.
- A port in `x-devenv.ports` that is already taken stops the service from
  starting, naming the process (pid and command) that holds it.
"""
