-- Read models of the payment streams. __S__ is the schema (the live one, or a rebuild's).
CREATE TABLE __S__.payment_events (
    order_id        text PRIMARY KEY,
    payment_key     text NOT NULL DEFAULT '',
    buyer_id        text NOT NULL,
    order_name      text NOT NULL,
    total_amount    numeric NOT NULL,
    status          text NOT NULL,
    is_payment_done boolean NOT NULL,
    approved_at     timestamptz,
    method          text NOT NULL DEFAULT '',
    outcome_rule    text NOT NULL DEFAULT '',
    outcome_code    text NOT NULL DEFAULT '',
    outcome_message text NOT NULL DEFAULT '',
    psp_evidence    jsonb,
    operator_alert  boolean NOT NULL,
    escalated       boolean NOT NULL,
    expired         boolean NOT NULL,
    completed_at    timestamptz,
    executions      integer NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    last_revision   bigint NOT NULL,
    last_position   bigint NOT NULL
);
CREATE INDEX payment_events_created ON __S__.payment_events (created_at, order_id);
CREATE INDEX payment_events_buyer ON __S__.payment_events (buyer_id, created_at, order_id);
CREATE INDEX payment_events_open ON __S__.payment_events (updated_at, order_id) WHERE status IN ('EXECUTING', 'UNKNOWN');

CREATE TABLE __S__.payment_orders (
    order_id       text NOT NULL REFERENCES __S__.payment_events (order_id) ON DELETE CASCADE,
    seq            integer NOT NULL,
    buyer_id       text NOT NULL,
    seller_id      text NOT NULL,
    product_id     text NOT NULL,
    quantity       bigint NOT NULL,
    unit_price     numeric NOT NULL,
    amount         numeric NOT NULL,
    status         text NOT NULL,
    ledger_updated boolean NOT NULL,
    wallet_updated boolean NOT NULL,
    failed_count   integer NOT NULL,
    threshold      integer NOT NULL,
    PRIMARY KEY (order_id, seq)
);
CREATE INDEX payment_orders_seller ON __S__.payment_orders (seller_id, order_id);

CREATE TABLE __S__.payment_order_history (
    position        bigint NOT NULL,
    order_id        text NOT NULL,
    seq             integer NOT NULL,
    previous_status text NOT NULL,
    new_status      text NOT NULL,
    reason          text NOT NULL,
    actor           text NOT NULL,
    at              timestamptz NOT NULL,
    event_id        uuid NOT NULL,
    PRIMARY KEY (order_id, position, seq)
);

-- The position of the last event applied, written in the transaction that applied it.
CREATE TABLE __S__.projection_checkpoint (
    name       text PRIMARY KEY,
    position   bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO __S__.projection_checkpoint (name, position) VALUES ('payments', 0);

-- Events the projection could not apply. The projector stops at the first one.
CREATE TABLE __S__.projection_dead_letters (
    position   bigint PRIMARY KEY,
    stream     text NOT NULL,
    revision   bigint NOT NULL,
    event_id   uuid NOT NULL,
    type       text NOT NULL,
    data       bytea,
    error      text NOT NULL,
    first_at   timestamptz NOT NULL,
    last_at    timestamptz NOT NULL,
    attempts   integer NOT NULL DEFAULT 1
);
