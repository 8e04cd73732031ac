"""The supervisor: dependency order, health, restarts, watching, log buffers.

Emits `devenv.events`; knows no UI. Front ends program against `EngineAPI`.
"""
