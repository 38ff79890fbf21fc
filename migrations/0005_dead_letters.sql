-- Operations: dead-lettered tasks hold their conversation until an operator replays or
-- discards them; turn failures are counted; admin API keys.

-- The lowest sequence number of the conversation's dead-lettered, unapplied tasks; NULL when
-- none is dead. Tasks after it wait (their status says why) instead of being applied out of
-- order, and the reconciler leaves the conversation alone until an operator releases it.
ALTER TABLE contexts ADD COLUMN held_seq bigint;
CREATE INDEX contexts_held_idx ON contexts (principal, context_id) WHERE held_seq IS NOT NULL;

-- Failed attempts at the task's turn (each one retried), the first and last of them with the
-- last error, and when the task was dead-lettered (NULL once released).
ALTER TABLE tasks
    ADD COLUMN failures         integer     NOT NULL DEFAULT 0,
    ADD COLUMN first_failure_at timestamptz,
    ADD COLUMN last_failure_at  timestamptz,
    ADD COLUMN last_error       text,
    ADD COLUMN dead_lettered_at timestamptz;

-- An API key created with `api-key create --admin` may use the admin API (dead letters).
ALTER TABLE api_keys ADD COLUMN admin boolean NOT NULL DEFAULT false;
