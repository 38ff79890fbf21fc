-- Security: telling a resent messageId from a reused one; sealed payment credentials.

-- SHA-256 of the client's message (canonical JSON, credentials redacted). A message that reuses
-- a messageId with a different body is refused instead of answered with the first task. NULL
-- for tasks recorded before this column existed: those resends are not compared.
ALTER TABLE tasks ADD COLUMN request_digest bytea;

-- The payment credential of a task that carries one, sealed by the ingress (AES-256-GCM,
-- PAYMENT_KEY; see the vault crate), so a republished task can still pay. Cleared when the
-- task finishes or is canceled: afterwards only the instrument's brand and last digits remain.
ALTER TABLE tasks ADD COLUMN sealed_credential text;

-- API keys for server-to-server agents. The key itself is shown once, at creation; only the
-- SHA-256 of its secret part is kept. `id` is the key's public prefix (it appears in the key
-- and in the operator CLI's listings); a revoked key keeps its row, for the record.
CREATE TABLE api_keys (
    id          text        NOT NULL,
    principal   text        NOT NULL,
    name        text        NOT NULL DEFAULT '',
    secret_hash bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CONSTRAINT api_keys_pkey PRIMARY KEY (id)
);

-- A context id names one conversation of one principal: another principal naming it gets "not
-- found" instead of a conversation of its own under the same id.
CREATE UNIQUE INDEX contexts_context_id_key ON contexts (context_id);

-- Request counts per rate-limit key (a principal, a client IP), one-second window and ingress
-- replica, shared by every ingress: each adds its own counts every 100 ms and reads back the
-- others'. Unlogged: losing the counts in a crash only forgets the last seconds of traffic.
CREATE UNLOGGED TABLE rate_counts (
    key          text   NOT NULL,
    window_start bigint NOT NULL,
    replica      uuid   NOT NULL,
    count        bigint NOT NULL,
    CONSTRAINT rate_counts_pkey PRIMARY KEY (key, window_start, replica)
);
