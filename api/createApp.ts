/** The Express application: public health and OpenAPI routes, then everything else behind an API key. */
import type { Client } from '@temporalio/client';
import cors from 'cors';
import express, { Router, type Express } from 'express';
import type { Logger } from 'pino';
import type { Catalog } from '../billing/catalog.js';
import type { PaymentProvider } from '../activities/payments/paymentProvider.js';
import { loadSellerDetails, type SellerDetails } from '../config/sellerDetails.js';
import type { Db } from '../store/db.js';
import { AccessCheck, requireAccess } from './access/accessCheck.js';
import { RateLimits } from './access/rateLimits.js';
import { CredentialResolver } from './access/credentialResolver.js';
import { assertEveryRouteHasAccess } from './access/routeAccess.js';
import { errorHandler, notFound } from './errors.js';
import { jsonBody } from './http/readJsonBody.js';
import { rejectWrongMethod, routeTableOf } from './http/routeTable.js';
import { idempotency } from './idempotency.js';
import { openApiDocument } from './openapi.js';
import { returnPageRoutes, returnUrlsOf, type ReturnUrls } from './payments/returnUrls.js';
import { alertRoutes } from './routes/alertRoutes.js';
import { billingPageRoutes } from './billingPage/billingPageRoutes.js';
import { auditLog } from './audit/auditLog.js';
import { auditLogRoutes } from './routes/auditLogRoutes.js';
import { webhookEndpointRoutes, webhookSecretRoutes } from './routes/webhookEndpointRoutes.js';
import { apiKeyRoutes } from './routes/apiKeyRoutes.js';
import { customerSessionRoutes } from './routes/customerSessionRoutes.js';
import { customerRoutes } from './routes/customerRoutes.js';
import { customerImportRoutes } from './routes/customerImportRoutes.js';
import { creditRoutes } from './routes/creditRoutes.js';
import { invoiceDocumentRoutes } from './routes/invoiceDocumentRoutes.js';
import { invoiceSettlementRoutes } from './routes/invoiceSettlementRoutes.js';
import { paymentMethodRoutes } from './routes/paymentMethodRoutes.js';
import { stripeWebhookRoutes } from './routes/stripeWebhookRoutes.js';
import { planChangeRoutes } from './routes/planChangeRoutes.js';
import { planCatalogRoutes } from './routes/planCatalogRoutes.js';
import { healthRoutes } from './routes/healthRoutes.js';
import { testClockRoutes } from './routes/testClockRoutes.js';
import { CustomerTime } from './testClocks/customerTime.js';
import { LiveCatalog } from './catalog/liveCatalog.js';

export interface AppDeps {
  db: Db;
  temporal: Client;
  taskQueue: string;
  catalog: Catalog;
  operatorKey: string;
  logger: Logger;
  /** Shared with the lean usage handler; built from operatorKey when absent. */
  access?: { check: AccessCheck; credentials: CredentialResolver };
  /** Requests a second per caller (api/access/rateLimits.ts); the defaults when absent. */
  rateLimits?: import('./access/rateLimits.js').RateLimitSettings;
  /** Browser origins CORS answers (TOLLGATE_CORS_ORIGINS); none when absent. */
  corsOrigins?: readonly string[];
  now?: () => number;
  /** Which host webhook endpoint URLs POST /v1/webhook-endpoints accepts; default https to public addresses only. */
  webhookEndpoints?: import('../notifications/destinationGuard.js').WebhookPolicy;
  /** Which alert webhook URLs PUT …/alert-channels accepts; default https to public addresses only. */
  alertWebhooks?: import('../notifications/destinationGuard.js').WebhookPolicy;
  /** Who issues the invoices (printed on invoice PDFs); read from TOLLGATE_SELLER_* when absent. */
  seller?: SellerDetails;
  /** Enables POST /v1/stripe/webhooks (PAYMENT_PROVIDER=stripe); absent, it answers 404. */
  stripeWebhookSecret?: string;
  /** Opens Checkout and billing-portal pages; absent or `none`, those routes answer 404. */
  payments?: PaymentProvider;
  /** Where those pages send the customer back by default; absent, this API's own pages on 127.0.0.1:3000. */
  returnUrls?: ReturnUrls;
  /** TOLLGATE_TEST_CLOCKS: the test clock routes, and customers on test clocks (issue 14). */
  testClocks?: boolean;
  /** The instant each customer is judged at (shared with the usage handler); built here when absent. */
  time?: CustomerTime;
  /** The catalog as reloaded (SIGHUP) and the catalogs subscriptions hold; built from `catalog` when absent. */
  catalogs?: LiveCatalog;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  const returnUrls = deps.returnUrls ?? returnUrlsOf({ HOST: '127.0.0.1', PORT: 3000 });
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      deps.logger.info({ method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
    });
    next();
  });
  const document = openApiDocument();
  assertEveryRouteHasAccess(document.paths);
  const table = routeTableOf(document.paths);
  const access = deps.access ?? accessOf(deps, table);
  const time = deps.time ?? new CustomerTime(deps.db, deps.testClocks ?? false, deps.now);
  // Before the method check: a browser's preflight (OPTIONS) from a configured origin is answered
  // here (the `cors` package: the preflight and Vary rules are easy to get subtly wrong). Any other
  // origin, or none, gets no CORS headers and OPTIONS stays a 405, so the browser refuses the call.
  const origins = new Set(deps.corsOrigins ?? []);
  const allowCors = cors({
    origin: true,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key'],
    exposedHeaders: ['Retry-After', 'Idempotent-Replayed'],
    maxAge: 600,
  });
  app.use((req, res, next) => {
    res.vary('Origin');
    const origin = req.get('origin');
    if (origin !== undefined && origins.has(origin)) allowCors(req, res, next);
    else next();
  });
  app.use(rejectWrongMethod(table));
  app.use(healthRoutes(deps));
  app.get('/openapi.json', (_req, res) => { res.json(document); });
  // Stripe signs its webhooks instead of sending an API key, and the signature covers the raw body.
  app.use(stripeWebhookRoutes(deps));
  // Where Stripe's pages send the customer's browser back: it has no API key.
  app.use(returnPageRoutes());
  // The reference billing page's files: public; the page calls the API with a customer session.
  app.use(billingPageRoutes());
  app.use(requireAccess(access.check));
  app.use(jsonBody({ limitBytes: 1024 * 1024 }));
  // Before every route that changes something (the secret-answer ones included).
  app.use(auditLog({ db: deps.db, table, logger: deps.logger, now: deps.now }));
  app.use(auditLogRoutes({ db: deps.db }));
  // Their answers hold secrets, which the Idempotency-Key store must never keep: mounted before it.
  app.use(apiKeyRoutes({ db: deps.db, credentials: access.credentials, now: deps.now }));
  app.use(customerSessionRoutes({ db: deps.db, credentials: access.credentials, now: deps.now }));
  const webhooks = { db: deps.db, webhooks: deps.webhookEndpoints, now: deps.now };
  app.use(webhookSecretRoutes(webhooks));
  app.use(idempotency(deps.db, deps.now));
  app.use(webhookEndpointRoutes(webhooks));
  app.use(testClockRoutes({ db: deps.db, temporal: deps.temporal, logger: deps.logger, testClocks: deps.testClocks ?? false, now: deps.now }));
  // The routes that read the catalog are built for one catalog and built again when a reload
  // replaces it: a request is served by one catalog from start to end.
  const catalogs = deps.catalogs ?? new LiveCatalog(deps.db, deps.catalog);
  const routesFor = (catalog: Catalog) => {
    const router = Router();
    const withCatalog = { ...deps, catalog };
    router.use(customerRoutes({ ...withCatalog, paymentProvider: deps.payments?.name ?? 'none', returnUrls, catalogs }));
    router.use(customerImportRoutes({ ...withCatalog, paymentProvider: deps.payments?.name ?? 'none', returnUrls, catalogs }));
    router.use(alertRoutes(withCatalog));
    router.use(planChangeRoutes({ ...withCatalog, time, catalogs }));
    router.use(planCatalogRoutes({ ...withCatalog, catalogs }));
    router.use(creditRoutes({ db: deps.db, temporal: deps.temporal, catalog, paymentProvider: deps.payments?.name ?? 'none', returnUrls, logger: deps.logger }));
    return router;
  };
  let catalogRoutes = routesFor(catalogs.current());
  catalogs.onChange((catalog) => { catalogRoutes = routesFor(catalog); });
  app.use((req, res, next) => catalogRoutes(req, res, next));
  app.use(invoiceDocumentRoutes({ db: deps.db, seller: deps.seller ?? loadSellerDetails(process.env) }));
  app.use(invoiceSettlementRoutes(deps));
  app.use(paymentMethodRoutes({
    db: deps.db,
    payments: deps.payments,
    returnUrls,
    logger: deps.logger,
    now: deps.now,
  }));
  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}

/** The access check of an app built alone (tests); createServer builds one and shares it with the usage handler. */
export function accessOf(deps: Pick<AppDeps, 'db' | 'operatorKey' | 'logger' | 'now' | 'rateLimits'>, table = routeTableOf(openApiDocument().paths)) {
  const credentials = new CredentialResolver({ db: deps.db, operatorKey: deps.operatorKey, logger: deps.logger, now: deps.now });
  return { check: new AccessCheck(credentials, table, new RateLimits(deps.rateLimits)), credentials };
}
