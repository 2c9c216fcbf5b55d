-- The reference wallet. __S__ is the schema (default "wallet").
-- applied_messages and credits are a journal (immutable); balances is maintained from it in
-- the same database transaction that records the message as applied.
CREATE TABLE __S__.applied_messages (
    message_id text PRIMARY KEY, -- the approval's message id: applied once
    applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE __S__.credits (
    message_id text NOT NULL REFERENCES __S__.applied_messages (message_id),
    line       integer NOT NULL,
    seller_id  text NOT NULL,
    amount     numeric NOT NULL,
    order_id   text NOT NULL,
    order_seq  integer NOT NULL,
    PRIMARY KEY (message_id, line)
);

CREATE TABLE __S__.balances (
    seller_id text PRIMARY KEY,
    amount    numeric NOT NULL
);

CREATE FUNCTION __S__.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'restrict_violation',
        MESSAGE = format('wallet %s are immutable: %s refused', TG_TABLE_NAME, TG_OP);
END $$;
CREATE TRIGGER applied_messages_immutable BEFORE UPDATE OR DELETE ON __S__.applied_messages
    FOR EACH ROW EXECUTE FUNCTION __S__.refuse_change();
CREATE TRIGGER applied_messages_no_truncate BEFORE TRUNCATE ON __S__.applied_messages
    FOR EACH STATEMENT EXECUTE FUNCTION __S__.refuse_change();
CREATE TRIGGER credits_immutable BEFORE UPDATE OR DELETE ON __S__.credits
    FOR EACH ROW EXECUTE FUNCTION __S__.refuse_change();
CREATE TRIGGER credits_no_truncate BEFORE TRUNCATE ON __S__.credits
    FOR EACH STATEMENT EXECUTE FUNCTION __S__.refuse_change();
