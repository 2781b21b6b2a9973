-- Usage events lose their foreign key to customers. The key's check ran once per inserted event
-- (a lookup and a FOR KEY SHARE lock on the customer row: about half the time of inserting a
-- batch of 1,000 events, bench notes of issue 11). The ledger is the only writer of usage_events
-- and writes an event only in the transaction that first locks (or creates) its counter row,
-- whose own foreign key to customers stays. Customers are deleted only to undo a create or an
-- import whose workflow did not start: the counters' key keeps a created customer with usage,
-- and the import's undo checks usage_events itself (store/customerImport.ts).
ALTER TABLE "usage_events" DROP CONSTRAINT "usage_events_customer_id_fkey";
