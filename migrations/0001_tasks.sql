-- Conversations (A2A contexts) and the tasks accepted in them.

-- How a task moves: see schemas/src/state.rs for how each state is entered and left.
CREATE TYPE task_state AS ENUM (
    'submitted', 'working', 'input-required', 'completed', 'canceled', 'failed', 'rejected'
);

-- Large JSONB documents (task messages, checkouts) use lz4: pglz compression showed in the
-- benchmark's profile, and lz4 is several times cheaper to compress.

-- One row per conversation. A conversation belongs to the principal that started it; the same
-- context id used by another principal is another conversation.
--   last_seq:    the sequence number given to the last task accepted (ingress).
--   applied_seq: the sequence number of the last task whose effects were committed (workers).
-- A worker applies task `seq` only where applied_seq = seq - 1: the fence that keeps each
-- conversation's tasks in acceptance order and applies each exactly once.
CREATE TABLE contexts (
    principal   text        NOT NULL,
    context_id  text        NOT NULL,
    last_seq    bigint      NOT NULL DEFAULT 0,
    applied_seq bigint      NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT contexts_pkey PRIMARY KEY (principal, context_id),
    CONSTRAINT contexts_applied_not_ahead CHECK (applied_seq <= last_seq)
);

CREATE TABLE tasks (
    id             uuid        NOT NULL,
    principal      text        NOT NULL,
    context_id     text        NOT NULL,
    seq            bigint      NOT NULL,
    message_id     text        NOT NULL,
    state          task_state  NOT NULL DEFAULT 'submitted',
    -- The user's message, with payment credentials redacted.
    request        jsonb       COMPRESSION lz4 NOT NULL,
    -- The UCP capabilities negotiated with the client's profile at acceptance.
    capabilities   jsonb       NOT NULL DEFAULT '[]'::jsonb,
    -- The agent's reply (an A2A Message) and the task's artifacts, once a worker ran the turn.
    reply          jsonb       COMPRESSION lz4,
    artifacts      jsonb       COMPRESSION lz4 NOT NULL DEFAULT '[]'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    CONSTRAINT tasks_pkey PRIMARY KEY (id),
    -- A2A idempotency: one task per (principal, messageId), however often it is resent.
    -- The selective column leads in both keys: with `principal` first, the planner may scan
    -- all of a principal's tasks in one index to find one messageId (seen in the benchmark).
    CONSTRAINT tasks_message_id_principal_key UNIQUE (message_id, principal),
    CONSTRAINT tasks_context_seq_key UNIQUE (context_id, principal, seq),
    CONSTRAINT tasks_context_fkey FOREIGN KEY (principal, context_id) REFERENCES contexts,
    CONSTRAINT tasks_finished_iff_terminal CHECK (
        (state IN ('completed', 'canceled', 'failed', 'rejected')) = (finished_at IS NOT NULL)
    )
);

-- The reconciler looks for conversations with tasks accepted but not applied yet.
CREATE INDEX contexts_pending_idx ON contexts (principal, context_id) WHERE applied_seq < last_seq;

-- Every JetStream message whose effects were committed, keyed by its Nats-Msg-Id. Inserted in
-- the same transaction as the effects: a redelivered message finds its row and is skipped.
CREATE TABLE processed_messages (
    msg_id       text        NOT NULL,
    task_id      uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT processed_messages_pkey PRIMARY KEY (msg_id)
);
