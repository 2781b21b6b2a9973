-- Payments: a provider customer per customer, each invoice mirrored at the provider with its ids,
-- links and status, and every provider webhook event stored by id so it is processed once.

-- The provider's customer (Stripe `cus_…`); an imported customer may bring its own.
ALTER TABLE "customers" ADD COLUMN "provider_customer_id" TEXT;
CREATE UNIQUE INDEX "customers_provider_customer_id_key" ON "customers"("provider_customer_id");

-- The provider's invoice and the outcome of collecting it. `status` keeps Tollgate's view
-- (open | paid | void | uncollectible); `provider_status` is what the provider last said
-- (draft | open | paid | uncollectible | void).
ALTER TABLE "invoices" ADD COLUMN "provider_invoice_id" TEXT;
ALTER TABLE "invoices" ADD COLUMN "provider_status" TEXT;
ALTER TABLE "invoices" ADD COLUMN "hosted_invoice_url" TEXT;
ALTER TABLE "invoices" ADD COLUMN "provider_pdf_url" TEXT;
ALTER TABLE "invoices" ADD COLUMN "collection_attempts" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "invoices" ADD COLUMN "last_payment_error" TEXT;
ALTER TABLE "invoices" ADD COLUMN "paid_at" TIMESTAMPTZ(3);
ALTER TABLE "invoices" ADD COLUMN "voided_at" TIMESTAMPTZ(3);
-- Who settled it outside the provider (an operator's reference) or the provider's payment id.
ALTER TABLE "invoices" ADD COLUMN "payment_reference" TEXT;
-- The request (its Update id) that settled it out of band: a retried step recognises its own work,
-- while a second request to settle a settled invoice is refused.
ALTER TABLE "invoices" ADD COLUMN "settled_by" TEXT;
CREATE UNIQUE INDEX "invoices_provider_invoice_id_key" ON "invoices"("provider_invoice_id");

-- Provider webhook events, by the provider's event id: a redelivered event is recognised and
-- answered without being applied twice. `signaled_at` is set once the subscription workflow has
-- the event (the workflow drops an id it has seen, so a second signal after a crash is harmless).
CREATE TABLE "payment_events" (
    "id" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "customer_id" TEXT,
    "payload" JSONB NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "signaled_at" TIMESTAMPTZ(3),

    CONSTRAINT "payment_events_pkey" PRIMARY KEY ("provider", "id")
);
CREATE INDEX "payment_events_received_at_idx" ON "payment_events"("received_at");
