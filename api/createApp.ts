/** The Express application: public health and OpenAPI routes, then everything else behind an API key. */
import type { Client } from '@temporalio/client';
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import type { Catalog } from '../billing/catalog.js';
import type { PaymentProvider } from '../activities/payments/paymentProvider.js';
import { loadSellerDetails, type SellerDetails } from '../config/sellerDetails.js';
import type { Db } from '../store/db.js';
import { apiKeyCheck, requireApiKey, type ApiKeyCheck } from './auth.js';
import { errorHandler, notFound } from './errors.js';
import { jsonBody } from './http/readJsonBody.js';
import { rejectWrongMethod, routeTableOf } from './http/routeTable.js';
import { idempotency } from './idempotency.js';
import { openApiDocument } from './openapi.js';
import { returnPageRoutes, returnUrlsOf, type ReturnUrls } from './payments/returnUrls.js';
import { alertRoutes } from './routes/alertRoutes.js';
import { customerRoutes } from './routes/customerRoutes.js';
import { customerImportRoutes } from './routes/customerImportRoutes.js';
import { creditRoutes } from './routes/creditRoutes.js';
import { invoiceDocumentRoutes } from './routes/invoiceDocumentRoutes.js';
import { invoiceSettlementRoutes } from './routes/invoiceSettlementRoutes.js';
import { paymentMethodRoutes } from './routes/paymentMethodRoutes.js';
import { stripeWebhookRoutes } from './routes/stripeWebhookRoutes.js';
import { planChangeRoutes } from './routes/planChangeRoutes.js';
import { healthRoutes } from './routes/healthRoutes.js';

export interface AppDeps {
  db: Db;
  temporal: Client;
  taskQueue: string;
  catalog: Catalog;
  operatorKey: string;
  logger: Logger;
  /** Shared with the lean usage handler; built from operatorKey when absent. */
  checkApiKey?: ApiKeyCheck;
  now?: () => number;
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
  app.use(rejectWrongMethod(routeTableOf(document.paths)));
  app.use(healthRoutes(deps));
  app.get('/openapi.json', (_req, res) => { res.json(document); });
  // Stripe signs its webhooks instead of sending an API key, and the signature covers the raw body.
  app.use(stripeWebhookRoutes(deps));
  // Where Stripe's pages send the customer's browser back: it has no API key.
  app.use(returnPageRoutes());
  app.use(requireApiKey(deps.checkApiKey ?? apiKeyCheck(deps.operatorKey)));
  app.use(jsonBody({ limitBytes: 1024 * 1024 }));
  app.use(idempotency(deps.db, deps.now));
  app.use(customerRoutes({ ...deps, paymentProvider: deps.payments?.name ?? 'none', returnUrls }));
  app.use(customerImportRoutes({ ...deps, paymentProvider: deps.payments?.name ?? 'none', returnUrls }));
  app.use(invoiceDocumentRoutes({ db: deps.db, seller: deps.seller ?? loadSellerDetails(process.env) }));
  app.use(invoiceSettlementRoutes(deps));
  app.use(alertRoutes(deps));
  app.use(planChangeRoutes(deps));
  app.use(creditRoutes({ db: deps.db, temporal: deps.temporal, catalog: deps.catalog, paymentProvider: deps.payments?.name ?? 'none', returnUrls }));
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
