-- The agent: conversation sessions, the journal of model responses, token usage.

-- A conversation's session with the agent: the last turns of its chat (what the model is shown
-- as history) and the UCP capabilities negotiated at its last turn. The checkout is in
-- `checkouts`. Idle sessions are deleted by the worker's session sweeper (SESSION_TTL).
CREATE TABLE sessions (
    principal    text        NOT NULL,
    context_id   text        NOT NULL,
    -- [{"user": text, "agent": text}], oldest first, at most LLM_HISTORY_TURNS entries. Typed
    -- card numbers are masked before they get here; payment data never does.
    history      jsonb       COMPRESSION lz4 NOT NULL DEFAULT '[]'::jsonb,
    capabilities jsonb       NOT NULL DEFAULT '[]'::jsonb,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sessions_pkey PRIMARY KEY (principal, context_id),
    CONSTRAINT sessions_context_fkey FOREIGN KEY (principal, context_id) REFERENCES contexts
);
CREATE INDEX sessions_updated_idx ON sessions (updated_at);

-- Each model response of a turn, written as soon as it arrives and outside the turn's
-- transaction: a redelivered turn replays these steps instead of calling (and paying) the
-- provider again. Kept as long as its task.
CREATE TABLE turn_journal (
    task_id    uuid        NOT NULL,
    step       integer     NOT NULL,
    -- The response as the agent uses it (provider, model, text, tool calls, usage) and the
    -- provider's own content, replayed verbatim. Never payment data.
    response   jsonb       COMPRESSION lz4 NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT turn_journal_pkey PRIMARY KEY (task_id, step),
    CONSTRAINT turn_journal_task_fkey FOREIGN KEY (task_id) REFERENCES tasks ON DELETE CASCADE
);

-- What a task's turn cost: {"prompt_tokens", "completion_tokens", "total_tokens", "model_calls"},
-- shown in the task's metadata. And while a worker is on the turn, what it says it is doing (an
-- A2A Message, the task status's message until the reply replaces it).
ALTER TABLE tasks ADD COLUMN usage jsonb, ADD COLUMN status_message jsonb;

-- Tokens each principal's turns used per UTC day, for the daily budget
-- (LLM_DAILY_TOKENS_PER_PRINCIPAL). Split over 16 shards, each turn transaction adding to one:
-- a single row per principal and day made every transaction of a busy caller wait for the
-- previous one's commit (seen in the benchmark). The day's total is the sum of the shards.
CREATE TABLE principal_usage (
    principal text     NOT NULL,
    day       date     NOT NULL,
    shard     smallint NOT NULL,
    tokens    bigint   NOT NULL DEFAULT 0,
    CONSTRAINT principal_usage_pkey PRIMARY KEY (principal, day, shard),
    CONSTRAINT principal_usage_shard_range CHECK (shard BETWEEN 0 AND 15)
);
