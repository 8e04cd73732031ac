"""devenv: a local development-environment manager with a terminal UI."""

__version__ = "0.1.0"
