-- What the bot answered to each message.
ALTER TABLE messages ADD COLUMN reply text;
