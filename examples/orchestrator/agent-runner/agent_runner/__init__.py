"""agent-runner: the worker plane's LLM integration (a stand-in; see __main__)."""
