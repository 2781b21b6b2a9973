-- Issue 15: catalogs by version, so the API previews a plan change with the very catalog the
-- subscription's workflow decides it with (billing/catalogVersion.ts).
CREATE TABLE "catalog_versions" (
    "version" TEXT NOT NULL,
    "catalog" JSONB NOT NULL,
    "first_loaded_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "catalog_versions_pkey" PRIMARY KEY ("version")
);

-- The version of the catalog the subscription's workflow holds; null until a workflow on the
-- plan-change-rules code writes its state.
ALTER TABLE "subscriptions" ADD COLUMN "catalog_version" TEXT;
