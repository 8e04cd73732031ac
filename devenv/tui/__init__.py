"""The Textual front end. Talks to the engine through `EngineAPI` only."""
