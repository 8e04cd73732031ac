"""One module per CLI subcommand: `add_parser(subparsers)` and `run(args) -> int`.

Modules import heavy libraries (textual, docker) inside `run`, so that
`devenv --help` stays fast.
"""
