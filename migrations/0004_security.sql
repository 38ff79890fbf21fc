-- Security: telling a resent messageId from a reused one; sealed payment credentials.

-- SHA-256 of the client's message (canonical JSON, credentials redacted). A message that reuses
-- a messageId with a different body is refused instead of answered with the first task. NULL
-- for tasks recorded before this column existed: those resends are not compared.
ALTER TABLE tasks ADD COLUMN request_digest bytea;

-- The payment credential of a task that carries one, sealed by the ingress (AES-256-GCM,
-- PAYMENT_KEY; see the vault crate), so a republished task can still pay. Cleared when the
-- task finishes or is canceled: afterwards only the instrument's brand and last digits remain.
ALTER TABLE tasks ADD COLUMN sealed_credential text;
