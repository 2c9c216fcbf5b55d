-- The reference ledger. __S__ is the schema (default "ledger").
-- Transactions and entries are immutable: corrections are reversal transactions.
CREATE TABLE __S__.transactions (
    seq       bigint GENERATED ALWAYS AS IDENTITY UNIQUE, -- posting order
    id        text PRIMARY KEY,                           -- bookings: the approval's message id
    kind      text NOT NULL,
    order_id  text NOT NULL,
    reverses  text UNIQUE REFERENCES __S__.transactions (id), -- reversed at most once
    reason    text NOT NULL DEFAULT '',
    posted_at timestamptz NOT NULL
);

CREATE TABLE __S__.entries (
    transaction_id text NOT NULL REFERENCES __S__.transactions (id),
    line           integer NOT NULL,
    account        text NOT NULL,
    side           text NOT NULL CONSTRAINT entries_side CHECK (side IN ('debit', 'credit')),
    amount         numeric NOT NULL CONSTRAINT entries_amount_positive CHECK (amount > 0),
    order_seq      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (transaction_id, line)
);
CREATE INDEX entries_account ON __S__.entries (account);

-- Double entry: at commit, every transaction written has entries and Σ debits = Σ credits.
-- Deferred, so the transaction row and its entries are inserted one after the other first.
CREATE FUNCTION __S__.check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tx text := to_jsonb(NEW) ->> TG_ARGV[0]; -- the column holding the transaction id
    debits numeric;
    credits numeric;
BEGIN
    SELECT coalesce(sum(amount) FILTER (WHERE side = 'debit'), 0),
           coalesce(sum(amount) FILTER (WHERE side = 'credit'), 0)
      INTO debits, credits
      FROM __S__.entries WHERE transaction_id = tx;
    IF debits = 0 OR debits <> credits THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation', CONSTRAINT = 'transactions_balanced',
            MESSAGE = format('ledger transaction %s is unbalanced: debits %s, credits %s', tx, debits, credits);
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER transactions_balanced AFTER INSERT ON __S__.transactions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION __S__.check_balanced('id');
CREATE CONSTRAINT TRIGGER entries_balanced AFTER INSERT ON __S__.entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION __S__.check_balanced('transaction_id');

-- Immutability: no UPDATE, DELETE or TRUNCATE of posted transactions or entries.
CREATE FUNCTION __S__.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'restrict_violation',
        MESSAGE = format('ledger %s are immutable: %s refused; post a reversal instead', TG_TABLE_NAME, TG_OP);
END $$;
CREATE TRIGGER transactions_immutable BEFORE UPDATE OR DELETE ON __S__.transactions
    FOR EACH ROW EXECUTE FUNCTION __S__.refuse_change();
CREATE TRIGGER transactions_no_truncate BEFORE TRUNCATE ON __S__.transactions
    FOR EACH STATEMENT EXECUTE FUNCTION __S__.refuse_change();
CREATE TRIGGER entries_immutable BEFORE UPDATE OR DELETE ON __S__.entries
    FOR EACH ROW EXECUTE FUNCTION __S__.refuse_change();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON __S__.entries
    FOR EACH STATEMENT EXECUTE FUNCTION __S__.refuse_change();
