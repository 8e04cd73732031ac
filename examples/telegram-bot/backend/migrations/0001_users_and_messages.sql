-- Telegram users (by their Telegram id) and the messages they sent the bot.
CREATE TABLE users (
    id          bigint PRIMARY KEY,            -- Telegram's user id
    username    text,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    messages    integer     NOT NULL DEFAULT 0
);

CREATE TABLE messages (
    id          bigserial PRIMARY KEY,
    chat_id     bigint      NOT NULL,
    user_id     bigint      NOT NULL REFERENCES users (id),
    text        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_chat ON messages (chat_id, id);
