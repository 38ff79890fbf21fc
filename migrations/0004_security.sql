-- Security: telling a resent messageId from a reused one; sealed payment credentials.

-- SHA-256 of the client's message (canonical JSON, credentials redacted). A message that reuses
-- a messageId with a different body is refused instead of answered with the first task. NULL
-- for tasks recorded before this column existed: those resends are not compared.
ALTER TABLE tasks ADD COLUMN request_digest bytea;
