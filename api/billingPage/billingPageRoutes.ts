/**
 * The reference billing page (web/billing/), served as static files under /billing/ with the
 * front-end library it imports (Preact and htm, straight from node_modules: nothing to build).
 * The files hold no secret and read nothing from the request, so they are public; the page itself
 * calls the API with the customer session token it was opened with (README, "Billing page").
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { Router, type Response } from 'express';
import { notFound } from '../errors.js';

export const BILLING_PAGE_PATH = '/billing/';
const PAGE_DIR = fileURLToPath(new URL('../../web/billing/', import.meta.url));

const require = createRequire(import.meta.url);
/** The ES module build beside a package entry's CommonJS build (both packages ship `x.js` and `x.mjs` in one folder). */
const esmBeside = (specifier: string, file: string) => path.join(path.dirname(require.resolve(specifier)), file);

/** The library files the page's import map names, by the URL it asks for. */
const VENDOR: Readonly<Record<string, string>> = {
  'preact.mjs': esmBeside('preact', 'preact.mjs'),
  'hooks.mjs': esmBeside('preact/hooks', 'hooks.mjs'),
  'htm.mjs': esmBeside('htm', 'htm.mjs'),
};

/**
 * Only this origin's own scripts, styles and API; the import map is the one inline script and is
 * allowed by its hash. No frames, no plugins, no form posts elsewhere, no Referer.
 */
function contentSecurityPolicy(indexHtml: string): string {
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(indexHtml)?.[1];
  const hash = importMap === undefined ? '' : ` 'sha256-${createHash('sha256').update(importMap).digest('base64')}'`;
  return [
    "default-src 'none'",
    `script-src 'self'${hash}`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

export function billingPageRoutes(): Router {
  const router = Router();
  for (const file of Object.values(VENDOR)) {
    if (!existsSync(file)) throw new Error(`The billing page's library file ${file} is missing: run \`npm ci\`.`);
  }
  const indexHtml = readFileSync(path.join(PAGE_DIR, 'index.html'), 'utf8');
  const headers = {
    'content-security-policy': contentSecurityPolicy(indexHtml),
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    // Small files, changed with each release: always revalidated (express.static sends ETags).
    'cache-control': 'no-cache',
  };
  const setHeaders = (res: Response) => { res.set(headers); };

  router.get('/billing', (req, res, next) => {
    // Express matches `/billing/` here too (trailing slashes are ignored): that one is the page.
    if (req.path !== '/billing') { next(); return; }
    const query = req.originalUrl.slice(req.path.length);
    res.redirect(301, `${BILLING_PAGE_PATH}${query}`);
  });
  router.get(`${BILLING_PAGE_PATH}vendor/:file`, (req, res, next) => {
    const file = VENDOR[req.params.file];
    if (file === undefined) { next(); return; }
    setHeaders(res);
    res.sendFile(file, { headers: { 'content-type': 'text/javascript; charset=utf-8' } });
  });
  router.use(BILLING_PAGE_PATH, express.static(PAGE_DIR, { index: 'index.html', redirect: false, dotfiles: 'ignore', setHeaders }));
  // Anything else under /billing/ is a missing file, not an API route asking for credentials.
  router.use(BILLING_PAGE_PATH, notFound);
  return router;
}
