// Opens the page of tests/browser.rs in the system's headless Chromium, signs in at the OpenID
// provider's pages when the page goes there, and prints what the page recorded, as one JSON
// line on stdout: {"browser": "...", "visited": [...], "results": [...]}. Everything else (the
// page's console, errors) goes to stderr.
//
// Usage: node tests/browser/run.mjs URL   (after `npm ci --prefix tests/browser`)
//
// Environment:
//   CHROMIUM   the browser to run (default: chromium)
//
// puppeteer-core drives a browser that is already installed; it downloads none.

import { execFileSync } from 'node:child_process';

import puppeteer from 'puppeteer-core';

const url = process.argv[2];
if (!url) {
  console.error('usage: node run.mjs URL');
  process.exit(2);
}
const command = process.env.CHROMIUM || 'chromium';
// puppeteer-core wants a path: resolve a bare command name on PATH.
const executablePath = command.includes('/')
  ? command
  : execFileSync('sh', ['-c', 'command -v "$0"', command], { encoding: 'utf8' }).trim();

const browser = await puppeteer.launch({
  executablePath,
  headless: true,
  args: [
    // As root (CI) Chromium's sandbox cannot start; the page is the test's own.
    '--no-sandbox',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--no-first-run',
    // Loopback only: any other host name resolves to nothing (puppeteer's defaults already
    // turn off background networking).
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  ],
});
try {
  const page = await browser.newPage();
  page.on('console', (message) => console.error(`[page] ${message.text()}`));
  page.on('pageerror', (error) => console.error(`[page error] ${error.message}`));
  page.on('requestfailed', (request) => console.error(`[request failed] ${request.method()} ${request.url()}: ${request.failure()?.errorText}`));
  await page.goto(url, { waitUntil: 'load', timeout: 30_000 });
  // The page leaves for the provider's sign-in and consent pages and comes back: a person's
  // part is played here, on whichever page is showing.
  const visited = [];
  for (;;) {
    const handle = await page.waitForFunction(() => {
      if (window.__done === true) return 'done';
      if (document.querySelector('input[name=login]')) return 'login';
      if (document.querySelector('input[name=prompt][value=consent]')) return 'consent';
      return false;
    }, { timeout: 60_000, polling: 50 });
    const shown = await handle.jsonValue();
    if (shown === 'done') break;
    visited.push(`${shown} at ${new URL(page.url()).origin}`);
    if (visited.length > 4) throw new Error(`no end to the sign-in: ${visited.join(', ')}`);
    if (shown === 'login') {
      await page.type('input[name=login]', 'alice');
      await page.type('input[name=password]', 'any password');
    }
    await Promise.all([page.waitForNavigation({ timeout: 30_000 }), page.click('button[type=submit]')]);
  }
  const results = await page.evaluate(() => window.__results);
  process.stdout.write(`${JSON.stringify({ browser: await browser.version(), visited, results })}\n`);
} finally {
  await browser.close();
}
