-- Bearer tokens expire. A new token is valid for a set time (`civitas token
-- create --days N`, default 365, at most 3650); a token made before this
-- version gets a year from its creation, so no token is valid forever.
ALTER TABLE api_token ADD COLUMN expires_at_ms INTEGER;
UPDATE api_token SET expires_at_ms = created_at_ms + 31536000000;
