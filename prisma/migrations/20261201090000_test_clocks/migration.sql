-- Test clocks (issue 14): a customer may run on a clock of its own, frozen between advances.
CREATE TABLE test_clocks (
  id           text PRIMARY KEY,
  name         text,
  frozen_time  timestamptz(3) NOT NULL,
  -- ready | advancing (an advance sent to its subscriptions, not yet caught up by all) | deleted
  status       text NOT NULL DEFAULT 'ready' CHECK (status IN ('ready', 'advancing', 'deleted')),
  created_at   timestamptz(3) NOT NULL DEFAULT now(),
  deleted_at   timestamptz(3)
);

ALTER TABLE customers ADD COLUMN test_clock_id text REFERENCES test_clocks(id) ON DELETE RESTRICT;
CREATE INDEX customers_test_clock_id_idx ON customers(test_clock_id) WHERE test_clock_id IS NOT NULL;

-- The cycle a renewal's recharge request is for: "one per cycle" is judged on the subscription's
-- time line (a test clock's), not by when the row was written. Older rows have none (created_at then).
ALTER TABLE credit_alerts ADD COLUMN cycle_start timestamptz(3);
