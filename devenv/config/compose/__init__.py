"""Stage one: reading and normalising Compose, as `docker compose config` does.

Which files make up the project (`discovery`), YAML that remembers file and
line (`yamlload`), `${VAR}` interpolation (`interpolate`), `.env` and
`env_file` files (`envfile`), each service's keys in their long form
(`normalize`, with `keys`, `shapes`, `ports`, `volumes`, `canonical`,
`durations`, checked against `schema`), `include`/`extends` and several files
merged in order (`files`, `merge`). The result is one canonical model of plain
mappings that still knows where each key came from (`errors_at`); stage two
(`devenv.config.stack`) turns it into the Stack.
"""
