-- Credit owed to a customer who lands on the fallback plan, refunded to their card against their
-- last paid invoices: one row per (refund, invoice refunded against), so a retried refund step
-- neither refunds an invoice twice nor more than it was paid.
CREATE TABLE "credit_refunds" (
    "refund_id" TEXT NOT NULL,
    "invoice_id" UUID NOT NULL,
    "customer_id" TEXT NOT NULL,
    "amount_minor" BIGINT NOT NULL,
    "provider_refund_id" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "credit_refunds_pkey" PRIMARY KEY ("refund_id", "invoice_id")
);
CREATE INDEX "credit_refunds_invoice_id_idx" ON "credit_refunds"("invoice_id");
ALTER TABLE "credit_refunds" ADD CONSTRAINT "credit_refunds_invoice_id_fkey" FOREIGN KEY ("invoice_id") REFERENCES "invoices"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "credit_refunds" ADD CONSTRAINT "credit_refunds_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "customers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
