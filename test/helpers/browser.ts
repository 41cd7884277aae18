import chromium from '@sparticuz/chromium';
import { type Browser, chromium as playwright } from 'playwright-core';

/**
 * Headless Chromium from the npm registry (@sparticuz/chromium ships it compressed; it unpacks
 * to /tmp on first use). Not the package's own `args`: they are for AWS Lambda and include
 * --disable-web-security and --single-process, which would void the console's same-origin,
 * CSP and session-isolation checks. Chromium's own background traffic is turned off: nothing
 * but the service on loopback is contacted.
 */
export async function launchBrowser(): Promise<Browser> {
  const executablePath = await chromium.executablePath();
  return playwright.launch({
    executablePath,
    headless: true,
    args: [
      // tests run as root in CI: Chromium's sandbox needs an unprivileged user
      '--no-sandbox',
      '--disable-dev-shm-usage',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
      '--disable-features=Translate,OptimizationHints,MediaRouter',
    ],
  });
}
