"""The session's control socket: `EngineAPI` over HTTP on a unix socket.

- `server`: the server, run inside the session's process on the engine's loop;
- `client`: `RemoteEngine`, the whole `EngineAPI` over the socket (`devenv
  attach`, `devenv mcp`);
- `oneshot`: the CLI's standard-library client (`devenv status`, `restart`...);
- `wire`: the contract's values as JSON, in one place;
- `paths`: where the socket is;
- `attach`, `web`, `mcp_tools`: the front ends built on the client.

Routes, bodies and the stream format: docs/control.md.
"""
