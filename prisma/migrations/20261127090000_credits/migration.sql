-- Prepaid credits (issue 10). Amounts of credits are NUMERIC(38,0) nanos of the catalog's credit
-- unit (1e-9 of a dollar of money credits, or of a token): exact, and no BIGINT ceiling at 9.2e9
-- credits. Money stays BIGINT minor units.

-- One balance per customer and unit, with the customer's low-balance threshold and auto-recharge
-- settings. The usage ledger locks this row (after the counters) to draw credits.
CREATE TABLE "credit_accounts" (
    "customer_id" TEXT NOT NULL,
    "unit" TEXT NOT NULL,
    "balance_nanos" NUMERIC(38,0) NOT NULL DEFAULT 0,
    -- null: the catalog's lowBalanceThreshold
    "threshold_nanos" NUMERIC(38,0),
    -- Set when the balance went under the threshold (a 'low' crossing was written); cleared when a grant lifts it back.
    "below_threshold" BOOLEAN NOT NULL DEFAULT false,
    -- Set when credits ran out (an 'exhausted' crossing was written); cleared by the next grant.
    "exhausted" BOOLEAN NOT NULL DEFAULT false,
    -- Crossings written so far: numbers each outbox row, so every crossing alerts once.
    "crossings" INTEGER NOT NULL DEFAULT 0,
    "auto_recharge" BOOLEAN NOT NULL DEFAULT false,
    "recharge_pack_id" TEXT,
    -- null: the catalog's defaultSpendingLimit
    "spending_limit_minor" BIGINT,
    "recharge_failures" INTEGER NOT NULL DEFAULT 0,
    "auto_recharge_off_reason" TEXT,
    "auto_recharge_off_at" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "credit_accounts_pkey" PRIMARY KEY ("customer_id", "unit"),
    CONSTRAINT "credit_accounts_balance_check" CHECK ("balance_nanos" >= 0)
);
ALTER TABLE "credit_accounts" ADD CONSTRAINT "credit_accounts_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "customers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- A credit purchase (a pack or an amount, bought by the customer or by auto-recharge): the invoice
-- that sells it. Its credits are granted in the transaction that marks that invoice paid, once.
CREATE TABLE "credit_purchases" (
    "id" TEXT NOT NULL,
    "customer_id" TEXT NOT NULL,
    "unit" TEXT NOT NULL,
    -- purchase | recharge
    "kind" TEXT NOT NULL,
    "pack_id" TEXT,
    "packs" INTEGER NOT NULL DEFAULT 1,
    "credits_nanos" NUMERIC(38,0) NOT NULL,
    "amount_minor" BIGINT NOT NULL,
    "currency" TEXT NOT NULL,
    "invoice_id" UUID NOT NULL,
    -- The usage cycle the purchase counts against (auto-recharge spending limit).
    "cycle_start" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "credit_purchases_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "credit_purchases_invoice_id_key" ON "credit_purchases"("invoice_id");
CREATE INDEX "credit_purchases_customer_id_cycle_start_idx" ON "credit_purchases"("customer_id", "cycle_start");
ALTER TABLE "credit_purchases" ADD CONSTRAINT "credit_purchases_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "customers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "credit_purchases" ADD CONSTRAINT "credit_purchases_invoice_id_fkey" FOREIGN KEY ("invoice_id") REFERENCES "invoices"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Append-only history of what changed a balance other than usage: purchases, recharges, grants,
-- refunds. `reference` (purchase id, grant id) makes each happen once.
CREATE TABLE "credit_transactions" (
    "id" BIGSERIAL NOT NULL,
    "customer_id" TEXT NOT NULL,
    "unit" TEXT NOT NULL,
    -- purchase | recharge | grant | refund
    "kind" TEXT NOT NULL,
    -- Signed: + adds to the balance, - takes from it.
    "credits_nanos" NUMERIC(38,0) NOT NULL,
    "balance_after_nanos" NUMERIC(38,0) NOT NULL,
    "reference" TEXT NOT NULL,
    -- grant: promotional | manual; the operator's reason
    "grant_type" TEXT,
    "reason" TEXT,
    "invoice_id" UUID,
    "amount_minor" BIGINT,
    "currency" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "credit_transactions_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "credit_transactions_customer_id_reference_key" ON "credit_transactions"("customer_id", "reference");
CREATE INDEX "credit_transactions_customer_id_unit_created_at_idx" ON "credit_transactions"("customer_id", "unit", "created_at");
ALTER TABLE "credit_transactions" ADD CONSTRAINT "credit_transactions_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "customers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Credits drawn by usage, aggregated per metric per day (UTC) within a cycle: one row, however
-- many events, updated in the usage ledger's own transaction.
CREATE TABLE "credit_consumption" (
    "customer_id" TEXT NOT NULL,
    "unit" TEXT NOT NULL,
    "metric" TEXT NOT NULL,
    "cycle_start" TIMESTAMPTZ(3) NOT NULL,
    "day" DATE NOT NULL,
    -- Units past the plan's included quantity paid with credits.
    "quantity" NUMERIC(38,0) NOT NULL DEFAULT 0,
    "credits_nanos" NUMERIC(38,0) NOT NULL DEFAULT 0,
    "events" BIGINT NOT NULL DEFAULT 0,
    "first_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "credit_consumption_pkey" PRIMARY KEY ("customer_id", "unit", "metric", "cycle_start", "day")
);
ALTER TABLE "credit_consumption" ADD CONSTRAINT "credit_consumption_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "customers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Outbox of balance crossings (low, exhausted) and recharge requests, written with the change
-- that caused them; the relay signals the subscription workflow and marks `signaled_at`.
CREATE TABLE "credit_alerts" (
    "id" BIGSERIAL NOT NULL,
    "customer_id" TEXT NOT NULL,
    "unit" TEXT NOT NULL,
    -- low | exhausted | recharge
    "kind" TEXT NOT NULL,
    "crossing" INTEGER NOT NULL,
    "balance_nanos" NUMERIC(38,0) NOT NULL,
    "threshold_nanos" NUMERIC(38,0),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "signaled_at" TIMESTAMPTZ(3),

    CONSTRAINT "credit_alerts_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "credit_alerts_customer_id_unit_crossing_key" ON "credit_alerts"("customer_id", "unit", "crossing");
CREATE INDEX "credit_alerts_signaled_at_idx" ON "credit_alerts"("signaled_at");
ALTER TABLE "credit_alerts" ADD CONSTRAINT "credit_alerts_customer_id_fkey" FOREIGN KEY ("customer_id") REFERENCES "customers"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
