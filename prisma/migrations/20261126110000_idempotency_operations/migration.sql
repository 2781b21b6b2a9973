-- An Idempotency-Key names one operation for as long as its record lives: the id of the Temporal
-- Update a retried request sends again. A request that failed with a 5xx releases its claim
-- (claimed_at NULL) instead of deleting the record, so the retry continues the same operation.
ALTER TABLE "idempotency_records" ADD COLUMN "operation_id" UUID NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE "idempotency_records" ADD COLUMN "claimed_at" TIMESTAMPTZ(3);
-- Requests in progress when this ran keep their claim (taken over after a minute, as before).
UPDATE "idempotency_records" SET "claimed_at" = "created_at" WHERE "status" IS NULL;
