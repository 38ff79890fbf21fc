-- The merchant's data besides the catalog, loaded from a data set folder (store/src/merchant_data.rs):
-- stock, customers and their saved addresses, discount codes, promotions, shipping and tax
-- rates. Money is integer minor units (cents).

-- Stock per product. A product without a row has unlimited stock.
CREATE TABLE inventory (
    product_id  text    NOT NULL,
    quantity    bigint  NOT NULL,
    CONSTRAINT inventory_pkey PRIMARY KEY (product_id),
    CONSTRAINT inventory_product_fkey FOREIGN KEY (product_id) REFERENCES products ON DELETE CASCADE,
    CONSTRAINT inventory_quantity_not_negative CHECK (quantity >= 0)
);

-- Buyers, from the data set or created when a checkout saves an address. One per email,
-- compared case-insensitively.
CREATE TABLE customers (
    id      text    NOT NULL,
    name    text    NOT NULL DEFAULT '',
    email   text    NOT NULL,
    CONSTRAINT customers_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX customers_email_key ON customers (lower(email));

-- A customer's saved shipping addresses: the data set's first (they are loaded before any
-- checkout saves one), then in the order they were saved.
CREATE TABLE customer_addresses (
    id                  text        NOT NULL,
    customer_id         text        NOT NULL,
    street_address      text        NOT NULL,
    extended_address    text,
    city                text        NOT NULL,
    state               text        NOT NULL DEFAULT '',
    postal_code         text        NOT NULL DEFAULT '',
    country             text        NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customer_addresses_pkey PRIMARY KEY (id),
    CONSTRAINT customer_addresses_customer_fkey FOREIGN KEY (customer_id) REFERENCES customers
);
CREATE INDEX customer_addresses_customer_idx ON customer_addresses (customer_id);

-- Discount codes: a percentage (0 to 100) of the subtotal, or a fixed amount off.
CREATE TABLE discounts (
    code        text    NOT NULL,
    kind        text    NOT NULL,
    value       bigint  NOT NULL,
    description text    NOT NULL DEFAULT '',
    CONSTRAINT discounts_pkey PRIMARY KEY (code),
    CONSTRAINT discounts_kind_known CHECK (kind IN ('percentage', 'fixed_amount')),
    CONSTRAINT discounts_value_not_negative CHECK (value >= 0)
);

-- Automatic promotions: free shipping from a subtotal, or for orders with eligible products
-- (an empty list: any product).
CREATE TABLE promotions (
    id                  text    NOT NULL,
    kind                text    NOT NULL,
    min_subtotal        bigint,
    eligible_item_ids   text[]  NOT NULL DEFAULT '{}',
    description         text    NOT NULL DEFAULT '',
    CONSTRAINT promotions_pkey PRIMARY KEY (id),
    CONSTRAINT promotions_kind_known CHECK (kind IN ('free_shipping'))
);

-- Shipping options per destination country (an ISO 3166-1 alpha-2 code, or 'default' for
-- countries without a rate of that service level).
CREATE TABLE shipping_rates (
    id              text    NOT NULL,
    country_code    text    NOT NULL,
    service_level   text    NOT NULL,
    price           bigint  NOT NULL,
    title           text    NOT NULL,
    description     text    NOT NULL DEFAULT '',
    carrier         text    NOT NULL DEFAULT '',
    CONSTRAINT shipping_rates_pkey PRIMARY KEY (id),
    CONSTRAINT shipping_rates_price_not_negative CHECK (price >= 0)
);

-- Tax per destination country ('default' for the others), in basis points (825 = 8.25 %).
CREATE TABLE tax_rates (
    country_code        text    NOT NULL,
    rate_basis_points   integer NOT NULL,
    CONSTRAINT tax_rates_pkey PRIMARY KEY (country_code),
    CONSTRAINT tax_rates_rate_not_negative CHECK (rate_basis_points >= 0)
);

-- The digest of the data set loaded last (one row): loading the same set again changes nothing,
-- so a migrate at every deploy never resets stock.
CREATE TABLE merchant_data_loads (
    singleton   boolean     NOT NULL DEFAULT true,
    digest      bytea       NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT merchant_data_loads_pkey PRIMARY KEY (singleton),
    CONSTRAINT merchant_data_loads_one_row CHECK (singleton)
);
