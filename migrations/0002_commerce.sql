-- The commerce engine: catalog, checkouts, orders. Money is integer minor units (cents).

CREATE TABLE products (
    id          text        NOT NULL,
    name        text        NOT NULL,
    category    text        NOT NULL DEFAULT '',
    price_minor bigint      NOT NULL,
    currency    text        NOT NULL,
    image_url   text,
    -- The schema.org Product as the catalog holds it, returned by search.
    body        jsonb       NOT NULL,
    search      tsvector    GENERATED ALWAYS AS (
                    to_tsvector('english', name || ' ' || category)
                ) STORED,
    CONSTRAINT products_pkey PRIMARY KEY (id),
    CONSTRAINT products_price_not_negative CHECK (price_minor >= 0)
);
CREATE INDEX products_search_idx ON products USING gin (search);

CREATE TYPE checkout_status AS ENUM (
    'incomplete', 'requires_escalation', 'ready_for_complete', 'complete_in_progress',
    'completed', 'canceled'
);

-- A checkout belongs to one conversation; a conversation has at most one open checkout.
CREATE TABLE checkouts (
    id          uuid            NOT NULL,
    principal   text            NOT NULL,
    context_id  text            NOT NULL,
    status      checkout_status NOT NULL,
    -- The UCP checkout document (schemas::ucp::Checkout).
    body        jsonb           COMPRESSION lz4 NOT NULL,
    -- Bumped by every change; writers check it (defence in depth behind the partition order).
    version     bigint          NOT NULL DEFAULT 1,
    expires_at  timestamptz     NOT NULL,
    created_at  timestamptz     NOT NULL DEFAULT now(),
    updated_at  timestamptz     NOT NULL DEFAULT now(),
    CONSTRAINT checkouts_pkey PRIMARY KEY (id),
    CONSTRAINT checkouts_context_fkey FOREIGN KEY (principal, context_id) REFERENCES contexts
);
CREATE UNIQUE INDEX checkouts_one_open_per_context
    ON checkouts (context_id, principal) WHERE status NOT IN ('completed', 'canceled');
-- The latest checkout of a conversation, open or not.
CREATE INDEX checkouts_context_updated_idx ON checkouts (context_id, principal, updated_at DESC);

CREATE TABLE orders (
    id          text        NOT NULL,
    checkout_id uuid        NOT NULL,
    principal   text        NOT NULL,
    total_minor bigint      NOT NULL,
    currency    text        NOT NULL,
    -- The completed checkout document; the instrument summary only, never the credential.
    body        jsonb       COMPRESSION lz4 NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_pkey PRIMARY KEY (id),
    CONSTRAINT orders_checkout_id_key UNIQUE (checkout_id),
    CONSTRAINT orders_checkout_fkey FOREIGN KEY (checkout_id) REFERENCES checkouts
);
