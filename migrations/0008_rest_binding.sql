-- The UCP REST binding: orders remember where the platform wants order events, and the events
-- wait in an outbox written in the transaction that caused them, until the platform takes them.
ALTER TABLE orders ADD COLUMN webhook_url text;

CREATE TABLE webhook_deliveries (
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    principal       text        NOT NULL,
    order_id        text        NOT NULL,
    -- order_placed, order_shipped, ...
    event_type      text        NOT NULL,
    url             text        NOT NULL,
    -- The event as sent: {"event_type", "checkout_id", "order"}. No payment credentials.
    body            jsonb       NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    -- A claimed delivery's lease: a dispatcher that dies mid-send leaves it due again when the
    -- lease ends.
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE delivered_at IS NULL;
CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (order_id, id) WHERE delivered_at IS NULL;

-- Each receiver's health: failed attempts in a row and when its backlog may be tried again,
-- and when a new event was last sent to it.
CREATE TABLE webhook_endpoints (
    url         text        NOT NULL,
    failures    integer     NOT NULL DEFAULT 0,
    retry_at    timestamptz NOT NULL DEFAULT now(),
    fresh_at    timestamptz,
    CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (url)
);
-- The purge of delivered events past the task retention.
CREATE INDEX webhook_deliveries_delivered_idx ON webhook_deliveries (delivered_at) WHERE delivered_at IS NOT NULL;
