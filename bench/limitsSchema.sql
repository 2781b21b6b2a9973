-- The tables the pgbench scripts in bench/limits/*.sql expect: a usage ledger cut to its bones
-- (an event row inserted idempotently, a counter row updated in the same transaction), so pgbench
-- shows what this PostgreSQL can commit at most. bench/run.ts applies this to a `limits` database
-- on the bench's own server, in the same run, and compares the API's figures to it.
DROP TABLE IF EXISTS usage_event, usage_counter;

CREATE TABLE usage_event (
  customer_id text NOT NULL,
  idem_key    text NOT NULL,
  metric      text NOT NULL,
  quantity    bigint NOT NULL,
  PRIMARY KEY (customer_id, idem_key)
);

CREATE TABLE usage_counter (
  customer_id  text NOT NULL,
  period_start date NOT NULL,
  metric       text NOT NULL,
  used         bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (customer_id, period_start, metric)
);

-- hot.sql and batch.sql update 'c1'; spread.sql updates 'c1'…'c1000'.
INSERT INTO usage_counter (customer_id, period_start, metric, used)
SELECT 'c' || g, DATE '2026-11-01', 'api_calls', 0 FROM generate_series(1, 1000) AS g;
