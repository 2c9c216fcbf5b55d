-- Refunds and allocations take part of a booking back from its sellers, any number of
-- times up to what it credited them: part_of links such a transaction to its booking
-- (reverses stays the once-only mirror of a whole transaction). Post checks the limit
-- under a lock on the booking's row.
ALTER TABLE __S__.transactions ADD COLUMN part_of text REFERENCES __S__.transactions (id);
CREATE INDEX transactions_part_of ON __S__.transactions (part_of) WHERE part_of IS NOT NULL;
