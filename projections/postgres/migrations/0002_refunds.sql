-- Refunds (issue 11): what approved refunds took back, per payment and per order, and each
-- refund of a payment with its outcome, recovery and bookings.
ALTER TABLE __S__.payment_events ADD COLUMN refunded_amount numeric NOT NULL DEFAULT 0;
ALTER TABLE __S__.payment_orders ADD COLUMN refunded_amount numeric NOT NULL DEFAULT 0;
-- The payment's outcome keeps its own status ('' = none): refunds move the payment's status
-- on without an outcome. Rows written before read their outcome's status as the payment's.
ALTER TABLE __S__.payment_events ADD COLUMN outcome_status text NOT NULL DEFAULT '';
UPDATE __S__.payment_events SET outcome_status = status WHERE outcome_rule <> '';

CREATE TABLE __S__.payment_refunds (
    order_id            text NOT NULL REFERENCES __S__.payment_events (order_id) ON DELETE CASCADE,
    refund_id           text NOT NULL,
    seq                 integer NOT NULL, -- 1-based, in the order refunds were requested or found
    amount              numeric NOT NULL,
    orders              jsonb,            -- [{"seq":…,"amount":"…"}]; NULL: not allocated to orders yet
    reason              text NOT NULL,
    tax_free_amount     numeric NOT NULL,
    status              text NOT NULL,
    outcome_status      text NOT NULL,    -- '' before the first outcome
    outcome_rule        text NOT NULL,
    outcome_code        text NOT NULL,
    outcome_message     text NOT NULL,
    transaction_key     text NOT NULL,
    canceled_at         timestamptz,
    external            boolean NOT NULL,
    found_by            text NOT NULL,
    failed_count        integer NOT NULL,
    threshold           integer NOT NULL,
    escalated           boolean NOT NULL,
    ledger_booked       boolean NOT NULL,
    wallet_booked       boolean NOT NULL,
    psp_idempotency_key text NOT NULL,
    requested_at        timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    PRIMARY KEY (order_id, refund_id),
    UNIQUE (order_id, seq)
);
-- Recovery's query: the open refund (EXECUTING or UNKNOWN) of each payment.
CREATE INDEX payment_refunds_open ON __S__.payment_refunds (order_id, seq) WHERE status IN ('EXECUTING', 'UNKNOWN');
