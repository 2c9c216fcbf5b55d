-- Virtual accounts (issue 12): the account a payment waits for a deposit into, as the shop
-- shows it to the buyer (never the keyed hash of its secret: only the write side checks
-- deposit callbacks, from the stream), and its due date, which the recovery worker checks.
-- va_due_date is NULL for payments without an account. Rows projected before this migration
-- have none until the read model is rebuilt; the due-date query lists those still waiting
-- first (their due date is unknown here), so none is left unchecked.
ALTER TABLE __S__.payment_events
    ADD COLUMN va_account_type   text NOT NULL DEFAULT '',
    ADD COLUMN va_bank_code      text NOT NULL DEFAULT '',
    ADD COLUMN va_account_number text NOT NULL DEFAULT '',
    ADD COLUMN va_holder_name    text NOT NULL DEFAULT '',
    ADD COLUMN va_due_date       timestamptz;
-- The recovery worker's query: payments waiting for a deposit, by due date.
CREATE INDEX payment_events_deposit_due ON __S__.payment_events (va_due_date NULLS FIRST, order_id)
    WHERE status = 'WAITING_FOR_DEPOSIT';
