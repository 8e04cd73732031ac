"""The demo application devenv ships with: an HTTP api, a worker and a migration,
on PostgreSQL and Redis. Needs the `demo` extra: pip install -e '.[demo]'."""
