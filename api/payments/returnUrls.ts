/**
 * Where Stripe's hosted pages send the customer back: Checkout after success or cancel, the billing
 * portal when they are done. A request may name its own URLs; otherwise the settings
 * (CHECKOUT_SUCCESS_URL, CHECKOUT_CANCEL_URL, BILLING_PORTAL_RETURN_URL); otherwise two tiny pages
 * this API serves itself, so `npm start` without any of them still lands the customer somewhere
 * instead of on an error.
 */
import { Router, type Response } from 'express';
import type { ApiSettings } from '../../config/settings.js';

export interface ReturnUrls {
  /** May contain `{CHECKOUT_SESSION_ID}`, which Stripe replaces with the session's id. */
  checkoutSuccess: string;
  checkoutCancel: string;
  portalReturn: string;
}

export const CHECKOUT_COMPLETE_PATH = '/checkout/complete';
export const CHECKOUT_CANCELLED_PATH = '/checkout/cancelled';

type ReturnUrlSettings = Pick<ApiSettings, 'HOST' | 'PORT' | 'CHECKOUT_SUCCESS_URL' | 'CHECKOUT_CANCEL_URL' | 'BILLING_PORTAL_RETURN_URL'>;

/**
 * The origin a browser can reach the API at. A wildcard bind address is where the server listens,
 * not an address a browser can open, so it becomes loopback; an IPv6 literal needs brackets.
 */
function originOf(host: string, port: number): string {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' || host === '[::]' ? '::1' : host;
  const literal = reachable.includes(':') && !reachable.startsWith('[') ? `[${reachable}]` : reachable;
  return `http://${literal}:${port}`;
}

/** The settings' URLs where given, else this API's own pages (see the file comment). */
export function returnUrlsOf(settings: ReturnUrlSettings): ReturnUrls {
  const origin = originOf(settings.HOST, settings.PORT);
  return {
    checkoutSuccess: settings.CHECKOUT_SUCCESS_URL ?? `${origin}${CHECKOUT_COMPLETE_PATH}?session_id={CHECKOUT_SESSION_ID}`,
    checkoutCancel: settings.CHECKOUT_CANCEL_URL ?? `${origin}${CHECKOUT_CANCELLED_PATH}`,
    portalReturn: settings.BILLING_PORTAL_RETURN_URL ?? `${origin}${CHECKOUT_COMPLETE_PATH}`,
  };
}

const page = (title: string, message: string) => `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem">
<h1>${title}</h1>
<p>${message}</p>
</body>
</html>
`;

const COMPLETE_PAGE = page('All done', 'You can close this page and return to the application.');
const CANCELLED_PAGE = page('Nothing was changed', 'You left the payment page before finishing. You can close this page and return to the application.');

function sendPage(res: Response, html: string): void {
  res
    .status(200)
    .set({
      'content-type': 'text/html; charset=utf-8',
      // The address carries Stripe's session id: keep it out of caches and of any Referer.
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
      // Static text only: no script, style sheet, frame or form may run from or on this page.
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'",
      'x-content-type-options': 'nosniff',
    })
    .send(html);
}

/**
 * The two public landing pages. No API key (a customer's browser has none) and nothing read from
 * the request or the database: the query (`session_id`) is ignored, so the page reveals nothing to
 * whoever opens the link. What the session did reaches Tollgate through Stripe's webhooks.
 */
export function returnPageRoutes(): Router {
  const router = Router();
  router.get(CHECKOUT_COMPLETE_PATH, (_req, res) => sendPage(res, COMPLETE_PAGE));
  router.get(CHECKOUT_CANCELLED_PATH, (_req, res) => sendPage(res, CANCELLED_PAGE));
  return router;
}
