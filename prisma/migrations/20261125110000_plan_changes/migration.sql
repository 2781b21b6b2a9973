-- AlterTable
ALTER TABLE "subscriptions" ADD COLUMN     "downgrades_this_cycle" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "pending_plan_id" TEXT,
ADD COLUMN     "pending_seats" INTEGER,
ADD COLUMN     "pending_interval" TEXT;
