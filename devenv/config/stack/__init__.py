"""Stage two: from the canonical Compose model to the validated Stack.

Profiles, dependencies and cycles (`build`, `graph`), the `x-devenv` block
(`xdevenv`), the top-level resources Compose prints (`resources`); then, over
the built Stack, the questions the engine asks before starting anything:
host ports that clash (`port_clashes`).
"""
