import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, expect } from '@jest/globals';
import AxeBuilder from '@axe-core/playwright';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchBrowser } from '../../helpers/browser.ts';
import { CONSOLE_DIST } from '../../../src/modules/console/console.router.ts';
import type { TestSink } from '../../helpers/smtp-sink.ts';
import type { TestService } from '../../helpers/test-service.ts';
import { useTestService } from '../../helpers/use-test-service.ts';

export type Lang = 'ja' | 'ko' | 'en';
export const LANGS: readonly Lang[] = ['ja', 'ko', 'en'];

/**
 * Screenshots of every screen, kept by CI (test-output/ is not in git). SCREENSHOT_DIR moves them:
 * .ci/run gives each of its two passes a folder of its own, so the second does not overwrite the first.
 */
export const SCREENSHOT_DIR = path.resolve(process.env.SCREENSHOT_DIR || 'test-output/screenshots');

export interface ConsoleHarness {
  svc: TestService;
  sink: TestSink;
  browser: Browser;
  /** the service's origin, e.g. http://127.0.0.1:41234 */
  origin: string;
  /** a console URL: url('/send') is origin + '/console/send' */
  url(consolePath: string): string;
  /** a new browser context in that language (its own cookies), at the sign-in page */
  newPage(lang: Lang, opts?: { viewport?: { width: number; height: number } }): Promise<Page>;
  /** newPage, then signed in with the service's key through the sign-in form; ends on /console/mails */
  signedInPage(lang: Lang): Promise<Page>;
  /** SCREENSHOT_DIR/<name>.png (full page) */
  screenshot(page: Page, name: string): Promise<void>;
  /** axe-core on the page as it is now: no serious or critical violation; and no CSP violation so far */
  expectAccessible(page: Page, what?: string): Promise<void>;
}

/**
 * The set-up of a browser test file: the service (useTestService: its own database, workers,
 * an SMTP sink) listening on a loopback port, and one browser, all for the file. Each page gets
 * its own context, so sessions never leak between tests.
 */
export function useConsole(opts: Parameters<typeof useTestService>[0] = {}): ConsoleHarness {
  const { svc, sink } = useTestService(opts);
  let server: http.Server | undefined;
  let browser: Browser | undefined;
  let origin = '';
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    if (!fs.existsSync(path.join(CONSOLE_DIST, 'index.html')))
      throw new Error('console/dist is missing: run the tests through `npm test` (it builds the console) or `npm run build:console`');
    server = http.createServer(svc.app);
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchBrowser();
    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  }, 120_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  const harness: ConsoleHarness = {
    svc,
    sink,
    get browser() {
      if (!browser) throw new Error('browser used before beforeAll');
      return browser;
    },
    get origin() {
      return origin;
    },
    url: (p) => `${origin}/console${p.startsWith('/') ? p : `/${p}`}`,
    async newPage(lang, o = {}) {
      const context = await harness.browser.newContext({ locale: lang, viewport: o.viewport ?? { width: 1366, height: 900 }, acceptDownloads: true });
      contexts.push(context);
      // The console keeps the chosen language in localStorage; start every page in `lang`.
      await context.addInitScript((l) => {
        if (!localStorage.getItem('om.lang')) localStorage.setItem('om.lang', l);
        // Every Content-Security-Policy violation on the page, for expectAccessible to report.
        const seen: string[] = [];
        (window as unknown as { __cspViolations: string[] }).__cspViolations = seen;
        document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.violatedDirective} ${e.blockedURI}`));
      }, lang);
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      await page.goto(`${origin}/console/`);
      return page;
    },
    async signedInPage(lang) {
      const page = await harness.newPage(lang);
      await page.locator('input[name=accessKey]').fill(svc.key.accessKey);
      await page.locator('input[name=secretKey]').fill(svc.key.secretKey);
      await page.locator('form button[type=submit]').click();
      await page.waitForURL(/\/console\/mails/);
      await page.locator('nav.sidenav').waitFor();
      return page;
    },
    async screenshot(page, name) {
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
    },
    async expectAccessible(page, what = page.url()) {
      const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
      const bad = result.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map(
          (v) =>
            `${v.impact} ${v.id}: ${v.help} (${v.nodes
              .map((n) => n.target.join(' '))
              .slice(0, 3)
              .join(', ')})`,
        );
      const csp = await page.evaluate(() => (window as unknown as { __cspViolations?: string[] }).__cspViolations ?? []);
      expect({ what, violations: bad, csp }).toEqual({ what, violations: [], csp: [] });
    },
  };
  return harness;
}

/** Drops a text file on the send screen's attachment area, as a drag and drop from the desktop does. */
export async function dropFile(page: Page, name: string, content: string) {
  const dataTransfer = await page.evaluateHandle(
    ([n, text]) => {
      const dt = new DataTransfer();
      dt.items.add(new File([text], n, { type: 'text/plain' }));
      return dt;
    },
    [name, content] as const,
  );
  await page.getByTestId('attachment-dropzone').dispatchEvent('drop', { dataTransfer });
}
