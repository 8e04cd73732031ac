"""The backend (FastAPI, port 8000): users, messages and stats in PostgreSQL,
counters and events in Redis. The bot is its client; so is the mini-app."""
