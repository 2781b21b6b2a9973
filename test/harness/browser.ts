/**
 * Chromium for the browser tests, driven by playwright-core: the browser is the system's (found or
 * installed by scripts/tools.ts findChromium), since Playwright's own download needs a host these
 * machines cannot reach. A missing browser fails the test with the tool step's message.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { findChromium, projectRoot } from '../../scripts/tools.js';

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: findChromium(),
    // Chromium refuses its sandbox to root (CI containers run as root).
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
}

/** Where the tests save their screenshots for review (ignored by git); UPDATE_SCREENSHOTS=1 also refreshes docs/screenshots. */
export const SCREENSHOT_DIR = path.join(projectRoot, 'test-results', 'screenshots');
const DOCS_SCREENSHOT_DIR = path.join(projectRoot, 'docs', 'screenshots');

export async function saveScreenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const image = await page.screenshot({ fullPage: true, animations: 'disabled' });
  writeFileSync(path.join(SCREENSHOT_DIR, `${name}.png`), image);
  if (process.env.UPDATE_SCREENSHOTS === '1') {
    mkdirSync(DOCS_SCREENSHOT_DIR, { recursive: true });
    writeFileSync(path.join(DOCS_SCREENSHOT_DIR, `${name}.png`), image);
  }
}

/**
 * Problems the page reported while a test used it: uncaught errors, console errors (CSP violations
 * among them), failed requests and server errors from its own origin. A test ends by expecting
 * none. Chromium also logs every 4xx answer to the console; those are the API's refusals, which the
 * page shows, so they are left to the tests' own assertions.
 */
export function watchPageProblems(page: Page, origin: string): string[] {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text())) problems.push(`console error: ${message.text()}`);
  });
  page.on('requestfailed', (request) => {
    if (request.url().startsWith(origin)) problems.push(`request failed: ${request.method()} ${request.url()} ${request.failure()?.errorText ?? ''}`);
  });
  page.on('response', (response) => {
    if (response.url().startsWith(origin) && response.status() >= 500) problems.push(`server error: ${response.status()} ${response.request().method()} ${response.url()}`);
  });
  return problems;
}
