-- Alert delivery no longer holds a transaction open while sending. An attempt claims its row
-- (status 'sending' with a lease), sends outside any transaction, then records the outcome only
-- if it still holds the lease. The lease expires, so a claim left by a crashed attempt is taken
-- over by the next one.
ALTER TABLE "alert_deliveries" ADD COLUMN "lease_id" UUID;
ALTER TABLE "alert_deliveries" ADD COLUMN "lease_expires_at" TIMESTAMPTZ(3);

-- Delivery reports used to quote the destination's answer after a colon ("Slack webhook answered
-- 404: <body>"); they are returned by the API, so keep only our own part.
UPDATE "alert_deliveries" SET "last_error" = split_part("last_error", ':', 1) WHERE "last_error" LIKE '%:%';
