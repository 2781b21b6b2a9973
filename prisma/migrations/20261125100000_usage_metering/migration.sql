-- CreateTable
CREATE TABLE "usage_events" (
    "customer_id" TEXT NOT NULL,
    "idempotency_key" TEXT NOT NULL,
    "metric" TEXT NOT NULL,
    "quantity" BIGINT NOT NULL,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL,
    "cycle_start" TIMESTAMPTZ(3) NOT NULL,
    "recorded_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "usage_events_pkey" PRIMARY KEY ("customer_id","idempotency_key")
);

-- CreateTable
CREATE TABLE "usage_counters" (
    "customer_id" TEXT NOT NULL,
    "metric" TEXT NOT NULL,
    "cycle_start" TIMESTAMPTZ(3) NOT NULL,
    "cycle_end" TIMESTAMPTZ(3) NOT NULL,
    "used" BIGINT NOT NULL DEFAULT 0,
    "closed" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "usage_counters_pkey" PRIMARY KEY ("customer_id","metric","cycle_start")
);

-- CreateTable
CREATE TABLE "usage_alerts" (
    "id" BIGSERIAL NOT NULL,
    "customer_id" TEXT NOT NULL,
    "metric" TEXT NOT NULL,
    "cycle_start" TIMESTAMPTZ(3) NOT NULL,
    "cycle_end" TIMESTAMPTZ(3) NOT NULL,
    "threshold" INTEGER NOT NULL,
    "used" BIGINT NOT NULL,
    "limit" BIGINT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "signaled_at" TIMESTAMPTZ(3),

    CONSTRAINT "usage_alerts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "alert_channels" (
    "customer_id" TEXT NOT NULL,
    "channels" JSONB NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "alert_channels_pkey" PRIMARY KEY ("customer_id")
);

-- CreateTable
CREATE TABLE "alert_deliveries" (
    "customer_id" TEXT NOT NULL,
    "metric" TEXT NOT NULL,
    "cycle_start" TIMESTAMPTZ(3) NOT NULL,
    "threshold" INTEGER NOT NULL,
    "limit" BIGINT NOT NULL,
    "channel" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,
    "delivered_at" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "alert_deliveries_pkey" PRIMARY KEY ("customer_id","metric","cycle_start","threshold","limit","channel")
);

-- CreateTable
CREATE TABLE "overage_charges" (
    "customer_id" TEXT NOT NULL,
    "metric" TEXT NOT NULL,
    "cycle_start" TIMESTAMPTZ(3) NOT NULL,
    "cycle_end" TIMESTAMPTZ(3) NOT NULL,
    "plan_id" TEXT NOT NULL,
    "included" BIGINT NOT NULL,
    "used" BIGINT NOT NULL,
    "overage" BIGINT NOT NULL,
    "unit_price" TEXT NOT NULL,
    "amount_minor" BIGINT NOT NULL,
    "currency" TEXT NOT NULL,
    "invoice_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "overage_charges_pkey" PRIMARY KEY ("customer_id","metric","cycle_start")
);

-- CreateIndex
CREATE UNIQUE INDEX "usage_alerts_customer_id_metric_cycle_start_threshold_limit_key" ON "usage_alerts"("customer_id", "metric", "cycle_start", "threshold", "limit");

-- CreateIndex
CREATE INDEX "usage_alerts_signaled_at_idx" ON "usage_alerts"("signaled_at");

-- AddForeignKey
ALTER TABLE "usage_events" ADD CONSTRAINT "usage_events_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "customers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "usage_counters" ADD CONSTRAINT "usage_counters_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "customers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "usage_alerts" ADD CONSTRAINT "usage_alerts_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "customers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "alert_channels" ADD CONSTRAINT "alert_channels_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "customers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "alert_deliveries" ADD CONSTRAINT "alert_deliveries_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "customers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "overage_charges" ADD CONSTRAINT "overage_charges_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "customers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "overage_charges" ADD CONSTRAINT "overage_charges_invoice_id_fkey" FOREIGN KEY ("invoice_id") REFERENCES "invoices"("id") ON DELETE SET NULL ON UPDATE CASCADE;
