"""The bot: Telegram's webhook in, the backend's answer out."""
