/**
 * The SQL migrations against a real PostgreSQL: applied once and recorded as Prisma records them,
 * idempotent, refusing edited history, and in step with schema.prisma (every model is written
 * and read through the generated client, so a column missing from either side fails here).
 */
import { cpSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listMigrations, migrate, MIGRATIONS_DIR } from '../../prisma/migrate.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase(); // already migrated once
});
afterAll(async () => {
  await database?.close();
});

async function query<T extends pg.QueryResultRow>(sql: string, url = database.url): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('migrations', () => {
  it('records every migration in _prisma_migrations with its sha256 checksum, finished', async () => {
    const rows = await query<{ migration_name: string; checksum: string; finished_at: Date | null; applied_steps_count: number }>(
      'SELECT migration_name, checksum, finished_at, applied_steps_count FROM _prisma_migrations ORDER BY migration_name',
    );
    expect(rows.map((r) => [r.migration_name, r.checksum])).toEqual(listMigrations().map((m) => [m.name, m.checksum]));
    expect(rows.every((r) => r.finished_at !== null && r.applied_steps_count === 1)).toBe(true);
  });

  it('is idempotent: a second run applies nothing', async () => {
    expect(await migrate(database.url)).toEqual([]);
    expect(await migrate(database.url)).toEqual([]);
  });

  it('runs concurrently without applying anything twice', async () => {
    const fresh = await createTestDatabase({ migrate: false });
    await fresh.close();
    const runs = await Promise.all([migrate(fresh.url), migrate(fresh.url), migrate(fresh.url)]);
    expect(runs.flat()).toEqual(listMigrations().map((m) => m.name)); // each applied by exactly one runner
    const rows = await query<{ n: string }>('SELECT count(*) AS n FROM _prisma_migrations', fresh.url);
    expect(Number(rows[0]!.n)).toBe(listMigrations().length);
  });

  it('refuses a migration that was edited after it was applied', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-migrations-'));
    cpSync(MIGRATIONS_DIR, dir, { recursive: true });
    const first = readdirSync(dir).filter((n) => !n.endsWith('.toml')).sort()[0]!;
    writeFileSync(path.join(dir, first, 'migration.sql'), '-- edited\nSELECT 1;\n');
    await expect(migrate(database.url, dir)).rejects.toThrow(/changed after it was applied/);
  });
});

describe('schema.prisma and the SQL agree', () => {
  it('writes and reads every model through the generated client', async () => {
    const { db } = database;
    const now = new Date('2026-01-01T00:00:00.000Z');
    const later = new Date('2026-01-31T00:00:00.000Z');
    await db.customer.create({
      data: {
        id: 'drift-check',
        name: 'Drift',
        email: 'drift@test',
        subscription: {
          create: {
            workflowId: 'subscription-drift-check', planId: 'pro', interval: 'monthly', seats: 1, status: 'active',
            currency: 'USD', periodStart: now, periodEnd: later, cycleStart: now, cycleEnd: later, version: 1,
          },
        },
        invoices: {
          create: {
            number: 'INV-DRIFT', reason: 'renewal', status: 'open', currency: 'USD', periodStart: now, periodEnd: later,
            subtotalMinor: 3000n, totalMinor: 3000n, paymentProvider: 'none', idempotencyKey: 'drift',
            lines: { create: { position: 0, kind: 'plan', description: 'Pro', quantity: 1n, unitPrice: '30.00', amountMinor: 3000n, periodStart: now, periodEnd: later } },
          },
        },
      },
    });
    await db.invoiceNumberSequence.create({ data: { name: 'drift', next: 1n } });
    const invoice = await db.invoice.findUniqueOrThrow({ where: { idempotencyKey: 'drift' } });
    const id = { customerId: 'drift-check', metric: 'api_calls', cycleStart: now };
    await db.usageEvent.create({ data: { customerId: 'drift-check', idempotencyKey: 'k1', metric: 'api_calls', quantity: 5n, occurredAt: now, cycleStart: now } });
    await db.usageCounter.create({ data: { ...id, cycleEnd: later, used: 5n } });
    await db.usageAlert.create({ data: { ...id, cycleEnd: later, threshold: 80, used: 800n, limit: 1000n } });
    await db.alertChannels.create({ data: { customerId: 'drift-check', channels: { slack: { webhookUrl: 'https://hooks.example/x' } } } });
    await db.alertDelivery.create({ data: { ...id, threshold: 80, limit: 1000n, channel: 'email', status: 'delivered', attempts: 1, deliveredAt: now } });
    await db.overageCharge.create({ data: { ...id, cycleEnd: later, planId: 'enterprise', included: 1n, used: 2n, overage: 1n, unitPrice: '0.0005', amountMinor: 0n, currency: 'USD', invoiceId: invoice.id } });
    const full = await db.customer.findUniqueOrThrow({
      where: { id: 'drift-check' },
      include: { usageCounters: true, usageAlerts: true, alertChannels: true, alertDeliveries: true, overageCharges: { include: { invoice: true } } },
    });
    // usage_events has no foreign key (migration 20261129090000): read it by its own key.
    expect(await db.usageEvent.findMany({ where: { customerId: 'drift-check' } })).toMatchObject([{ quantity: 5n }]);
    expect(full.usageCounters[0]).toMatchObject({ used: 5n, closed: false });
    expect(full.usageAlerts[0]).toMatchObject({ threshold: 80, signaledAt: null });
    expect(full.alertChannels?.channels).toEqual({ slack: { webhookUrl: 'https://hooks.example/x' } });
    expect(full.alertDeliveries[0]).toMatchObject({ status: 'delivered', lastError: null });
    expect(full.overageCharges[0]?.invoice?.number).toBe('INV-DRIFT');
    await db.idempotencyRecord.create({ data: { key: 'drift', requestHash: 'h', status: 201, response: { ok: true }, completedAt: now } });
    expect(await db.idempotencyRecord.findUniqueOrThrow({ where: { key: 'drift' } })).toMatchObject({ status: 201, response: { ok: true } });
    const sub = await db.subscription.findUniqueOrThrow({ where: { customerId: 'drift-check' } });
    expect(sub).toMatchObject({ downgradesThisCycle: 0, pendingPlanId: null, pendingSeats: null });

    const customer = await db.customer.findUniqueOrThrow({ where: { id: 'drift-check' }, include: { subscription: true, invoices: { include: { lines: true } } } });
    expect(customer.subscription).toMatchObject({ planId: 'pro', cancelAtPeriodEnd: false, creditOwedMinor: 0n, version: 1 });
    expect(customer.invoices[0]).toMatchObject({ taxMinor: 0n, totalMinor: 3000n });
    expect(customer.invoices[0]!.lines[0]).toMatchObject({ unitPrice: '30.00', amountMinor: 3000n });
    expect(await db.invoiceNumberSequence.findUniqueOrThrow({ where: { name: 'drift' } })).toEqual({ name: 'drift', next: 1n });
    await db.customer.update({ where: { id: 'drift-check' }, data: { providerCustomerId: 'cus_drift' } });
    await db.invoice.update({
      where: { id: invoice.id },
      data: {
        providerInvoiceId: 'in_drift', providerStatus: 'paid', hostedInvoiceUrl: 'https://pay.example/in', providerPdfUrl: 'https://pay.example/in.pdf',
        collectionAttempts: 1, lastPaymentError: null, paidAt: later, voidedAt: null, paymentReference: 'pi_drift', settledBy: 'mark-paid-1',
      },
    });
    expect(await db.invoice.findUniqueOrThrow({ where: { providerInvoiceId: 'in_drift' }, include: { customer: true } })).toMatchObject({
      providerStatus: 'paid', collectionAttempts: 1, paidAt: later, paymentReference: 'pi_drift', settledBy: 'mark-paid-1', customer: { providerCustomerId: 'cus_drift' },
    });
    await db.creditRefund.create({ data: { refundId: 'refund:drift', invoiceId: invoice.id, customerId: 'drift-check', amountMinor: 100n, providerRefundId: 're_drift' } });
    expect(await db.creditRefund.findMany({ where: { invoiceId: invoice.id }, include: { invoice: true, customer: true } })).toMatchObject([{ amountMinor: 100n, invoice: { number: 'INV-DRIFT' }, customer: { id: 'drift-check' } }]);
    await db.paymentNoticeDelivery.create({ data: { customerId: 'drift-check', noticeId: 'n1', channel: 'email', status: 'delivered', attempts: 1, deliveredAt: now } });
    expect(await db.paymentNoticeDelivery.findUniqueOrThrow({ where: { customerId_noticeId_channel: { customerId: 'drift-check', noticeId: 'n1', channel: 'email' } } })).toMatchObject({ status: 'delivered' });
    await db.subscription.update({ where: { customerId: 'drift-check' }, data: { paymentState: { reason: 'past_due' } } });
    await db.paymentEvent.create({ data: { provider: 'stripe', id: 'evt_drift', type: 'invoice.paid', customerId: 'drift-check', payload: { id: 'evt_drift' } } });
    expect(await db.paymentEvent.findUniqueOrThrow({ where: { provider_id: { provider: 'stripe', id: 'evt_drift' } } })).toMatchObject({ type: 'invoice.paid', signaledAt: null });

    // Credits (issue 10): every model against its table.
    await db.creditAccount.create({ data: { customerId: 'drift-check', unit: 'tokens', balanceNanos: '2500000000000000', thresholdNanos: '500000000000000', autoRecharge: true, rechargePackId: 'standard', spendingLimitMinor: 5000n } });
    expect(await db.creditAccount.findUniqueOrThrow({ where: { customerId_unit: { customerId: 'drift-check', unit: 'tokens' } } })).toMatchObject({ belowThreshold: false, exhausted: false, crossings: 0, rechargeFailures: 0, autoRechargeOffReason: null });
    await db.creditPurchase.create({ data: { id: 'buy-drift', customerId: 'drift-check', unit: 'tokens', kind: 'purchase', packId: 'standard', creditsNanos: '2500000000000000', amountMinor: 1000n, currency: 'EUR', invoiceId: invoice.id, cycleStart: now } });
    expect(await db.creditPurchase.findUniqueOrThrow({ where: { invoiceId: invoice.id }, include: { invoice: true } })).toMatchObject({ packs: 1, amountMinor: 1000n, invoice: { number: 'INV-DRIFT' } });
    await db.creditTransaction.create({ data: { customerId: 'drift-check', unit: 'tokens', kind: 'grant', creditsNanos: '1', balanceAfterNanos: '1', reference: 'grant:drift', grantType: 'promotional', reason: 'welcome' } });
    expect(await db.creditTransaction.findUniqueOrThrow({ where: { customerId_reference: { customerId: 'drift-check', reference: 'grant:drift' } } })).toMatchObject({ kind: 'grant', invoiceId: null, amountMinor: null });
    await db.creditConsumption.create({ data: { customerId: 'drift-check', unit: 'tokens', metric: 'calls', cycleStart: now, day: new Date('2026-11-26'), quantity: '5', creditsNanos: '5000000000', events: 2n } });
    expect(await db.creditConsumption.findMany({ where: { customerId: 'drift-check' } })).toMatchObject([{ events: 2n }]);
    await db.creditAlert.create({ data: { customerId: 'drift-check', unit: 'tokens', kind: 'low', crossing: 1, balanceNanos: '1', thresholdNanos: null } });
    expect(await db.creditAlert.findMany({ where: { customerId: 'drift-check' } })).toMatchObject([{ kind: 'low', signaledAt: null }]);

    // Access (issue 12): keys and customer sessions against their tables.
    await db.apiKey.create({ data: { name: 'drift', scopes: ['read', 'usage:write'], secretHash: new Uint8Array(32), prefix: 'tg_sk_drift' } });
    expect(await db.apiKey.findUniqueOrThrow({ where: { name: 'drift' } })).toMatchObject({ scopes: ['read', 'usage:write'], lastUsedAt: null, revokedAt: null });
    await expect(db.apiKey.create({ data: { name: 'drift-bad', scopes: ['root'], secretHash: new Uint8Array(32).fill(1), prefix: 'x' } })).rejects.toThrow();
    await db.customerSession.create({ data: { customerId: 'drift-check', secretHash: new Uint8Array(32), createdBy: 'key:operator', expiresAt: later } });
    expect(await db.customerSession.findMany({ where: { customerId: 'drift-check' }, include: { customer: true } })).toMatchObject([{ revokedAt: null, customer: { id: 'drift-check' } }]);

    await db.auditEntry.create({ data: { actor: 'key:operator', method: 'POST', route: '/v1/customers', path: '/v1/customers', customerId: 'drift-check' } });
    expect(await db.auditEntry.findMany({ where: { customerId: 'drift-check' } })).toMatchObject([{ status: null, errorCode: null, completedAt: null }]);

    // Outbound webhooks: endpoint, event, delivery, attempt.
    const endpoint = await db.webhookEndpoint.create({ data: { url: 'https://hooks.example/t', eventTypes: ['invoice.created'], secret: 'whsec_x' } });
    const event = await db.webhookEvent.create({ data: { customerId: 'drift-check', sequence: 1n, type: 'invoice.created', data: { number: 'INV-DRIFT' } } });
    await db.webhookSequence.create({ data: { customerId: 'drift-check', last: 1n } });
    const delivery = await db.webhookDelivery.create({ data: { eventId: event.id, endpointId: endpoint.id } });
    await db.webhookAttempt.create({ data: { deliveryId: delivery.id, attempt: 1, status: 500, ms: 12 } });
    expect(await db.webhookDelivery.findUniqueOrThrow({ where: { id: delivery.id }, include: { event: true, endpoint: true, attemptLog: true } })).toMatchObject({ round: 0, status: 'pending', event: { sequence: 1n }, endpoint: { previousSecret: null }, attemptLog: [{ status: 500 }] });

    // Test clocks (issue 14): a clock, and a customer on it.
    await db.testClock.create({ data: { id: 'clock_drift', name: 'drift', frozenTime: now } });
    await db.customer.update({ where: { id: 'drift-check' }, data: { testClockId: 'clock_drift' } });
    expect(await db.testClock.findUniqueOrThrow({ where: { id: 'clock_drift' }, include: { customers: true } })).toMatchObject({ status: 'ready', deletedAt: null, customers: [{ id: 'drift-check' }] });
    await expect(db.testClock.update({ where: { id: 'clock_drift' }, data: { status: 'stopped' } })).rejects.toThrow();

    // Catalogs by version (issue 15), and the version a subscription's workflow holds.
    await db.catalogVersion.create({ data: { version: '0123456789abcdef', catalog: { currency: 'USD' } } });
    expect(await db.catalogVersion.findUniqueOrThrow({ where: { version: '0123456789abcdef' } })).toMatchObject({ catalog: { currency: 'USD' } });
    await db.subscription.update({ where: { customerId: 'drift-check' }, data: { catalogVersion: '0123456789abcdef' } });
    expect(await db.subscription.findUniqueOrThrow({ where: { customerId: 'drift-check' } })).toMatchObject({ catalogVersion: '0123456789abcdef' });

    // No table in the database that the Prisma schema does not know.
    const tables = await query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
    );
    expect(tables.map((t) => t.table_name)).toEqual([
      '_prisma_migrations', 'alert_channels', 'alert_deliveries', 'api_keys', 'audit_log', 'catalog_versions', 'credit_accounts', 'credit_alerts', 'credit_consumption', 'credit_purchases', 'credit_refunds', 'credit_transactions', 'customer_sessions', 'customers', 'idempotency_records', 'invoice_lines', 'invoice_number_sequences', 'invoices',
      'overage_charges', 'payment_events', 'payment_notice_deliveries', 'subscriptions', 'test_clocks', 'usage_alerts', 'usage_counters', 'usage_events',
      'webhook_attempts', 'webhook_deliveries', 'webhook_endpoints', 'webhook_events', 'webhook_sequences',
    ]);
  });
});
