-- Payment notices (a failed renewal payment, the final action after the last failure), one row
-- per notice and channel: the delivery's idempotency record and its report, claimed with a lease
-- exactly like alert_deliveries. `notice_id` is chosen by the subscription workflow and names one
-- notice, so a retried or replayed delivery finds its row and is never sent twice once delivered.
CREATE TABLE "payment_notice_deliveries" (
    "customer_id" TEXT NOT NULL,
    "notice_id" TEXT NOT NULL,
    "channel" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,
    "delivered_at" TIMESTAMPTZ(3),
    "lease_id" UUID,
    "lease_expires_at" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "payment_notice_deliveries_pkey" PRIMARY KEY ("customer_id","notice_id","channel")
);

ALTER TABLE "payment_notice_deliveries" ADD CONSTRAINT "payment_notice_deliveries_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "customers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
