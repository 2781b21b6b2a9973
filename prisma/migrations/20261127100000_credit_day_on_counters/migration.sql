-- Credits drawn today stay on the usage counter they were drawn through (updated in the same row
-- write as `used`, under the counter's lock), and move to credit_consumption when a later day
-- begins: the hot path writes no extra row per transaction for its consumption history.
ALTER TABLE "usage_counters"
    ADD COLUMN "credit_day" DATE,
    ADD COLUMN "credit_day_quantity" NUMERIC(38,0) NOT NULL DEFAULT 0,
    ADD COLUMN "credit_day_nanos" NUMERIC(38,0) NOT NULL DEFAULT 0,
    ADD COLUMN "credit_day_events" BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN "credit_day_first_at" TIMESTAMPTZ(3),
    ADD COLUMN "credit_day_last_at" TIMESTAMPTZ(3);
