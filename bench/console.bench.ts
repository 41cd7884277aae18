// npm run bench:console — the web console in a real browser, on a large history.
//
// A history of BENCH_CONSOLE_RECIPIENTS recipient rows (scripts/seed-history.ts) is seeded into an
// embedded PostgreSQL (or BENCH_CONSOLE_DATABASE_URL is reused as it is), the service runs as
// `node src/main.ts` (ROLE=api) in its own process, and headless Chromium (the tests' browser)
// signs in to the console and opens each screen BENCH_CONSOLE_ITERATIONS times.
//
// Printed:
//   - initial JavaScript: what index.html loads before any screen (its module script and
//     modulepreloads), gzipped, and all of the console's JavaScript for comparison;
//   - per screen, the time from navigation (a click in the side menu, as people move between
//     screens) until the screen is interactive: its heading is shown, and its first API calls
//     have answered and been rendered (no /api/v1 call in flight for 150 ms; the time is that
//     of the last answer, plus a frame). Every screen of the side menu, and the mail list of one
//     request (/mails/requests/{id}), reached as people reach it: a click on a request's
//     recipient count (受信者数) in the request list, just shown; timed from that click until its
//     heading (its h2) is shown and its first API calls are answered and rendered. Two requests
//     of the list's first page: the first row (the newest) and, of the other rows, the one with
//     the most recipients (another request, so it is not shown from the first one's cached data).
//     Also a full page load (reload) of the request list;
//   - the first page of the request list shown (its first row visible) after navigation;
//   - baselines measured in the same run: the sign-in page's full load (static files only, no
//     API call) and the request list's API call alone (`GET /api/v1/mails/requests`, signed, the
//     same query the screen sends), each as a ratio.
// Targets (issue 14, on 10,000,000 recipients): initial JavaScript ≤ 250 KB gzipped; each screen
// interactive ≤ 1 s after navigation; the request list's first page shown ≤ 1 s.
//
// Environment:
//   BENCH_CONSOLE_RECIPIENTS    history rows to seed (default 10000000; e.g. 200000 for a quick check)
//   BENCH_CONSOLE_DATABASE_URL  reuse a database already filled by `npm run seed:history` (migrated here)
//   BENCH_CONSOLE_ITERATIONS    navigations per screen (default 10)
// Exit status: 1 when a screen fails to show or the run could not be carried out; missed targets
// are reported, not failed.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type { Page } from 'playwright-core';
import { connectDb } from '../src/db/connect.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { CONSOLE_DIST } from '../src/modules/console/console.router.ts';
import { createKey } from '../src/modules/projects/projects.service.ts';
import { createSecretBox } from '../src/shared/secret-box.ts';
import { seedHistory } from '../scripts/seed-history.ts';
import { buildConsole } from '../scripts/build-console.ts';
import { launchBrowser } from '../test/helpers/browser.ts';
import { benchLog, fmtInt, freePort, intEnv, percentile } from './helpers.ts';
import { createCleanups, runMain, signedCall, startBenchPostgres, startServiceProcess, type ApiKey } from './send-run.ts';

const HISTORY = intEnv('BENCH_CONSOLE_RECIPIENTS', 10_000_000);
const ITERATIONS = intEnv('BENCH_CONSOLE_ITERATIONS', 10);
const REUSE_URL = process.env.BENCH_CONSOLE_DATABASE_URL || undefined;
const PROJECT = 'history-main';
const INITIAL_JS_TARGET_KB = 250;
const SCREEN_TARGET_MS = 1000;
const QUIET_MS = 150;

const log = benchLog('console-bench');
const cleanups = createCleanups(log);

/** The side menu's screens (console/src/components/Layout.tsx): the console path and the link's English name. */
const SCREENS = [
  ['/mails', 'Mailing list'],
  ['/send', 'Send mail'],
  ['/templates', 'Templates'],
  ['/address-book', 'Address book'],
  ['/unsubscribers', 'Unsubscribers'],
  ['/send-block', 'Send block'],
  ['/domains', 'Sender domains'],
  ['/keys', 'Access keys'],
  ['/delivery', 'Delivery'],
] as const;

/** The request list's recipient-count buttons are labelled "{n} (mails of request {id})" in English. */
const COUNT_LABEL = /^([\d,]+) \(mails of request (.+)\)$/;

function gzipKb(file: string): number {
  return zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length / 1024;
}

/** The JavaScript index.html loads before any screen: its module script and modulepreloads. */
function initialJs(): { files: string[]; kb: number; allKb: number } {
  const html = fs.readFileSync(path.join(CONSOLE_DIST, 'index.html'), 'utf8');
  const refs = [...html.matchAll(/<(?:script[^>]*\bsrc|link[^>]*rel="modulepreload"[^>]*\bhref)="\/console\/([^"]+\.js)"/g)].map((m) => m[1]!);
  const files = [...new Set(refs)];
  const kb = files.reduce((sum, f) => sum + gzipKb(path.join(CONSOLE_DIST, f)), 0);
  const assets = path.join(CONSOLE_DIST, 'assets');
  const allKb = fs
    .readdirSync(assets)
    .filter((f) => f.endsWith('.js'))
    .reduce((sum, f) => sum + gzipKb(path.join(assets, f)), 0);
  return { files, kb, allKb };
}

/**
 * Tracks the page's /api/v1 calls, so a screen counts as interactive once its first calls have
 * answered: resolves with the time of the last answer after `QUIET_MS` without one in flight.
 */
function apiTracker(page: Page) {
  let inFlight = 0;
  let lastDone = 0;
  page.on('request', (r) => {
    if (r.url().includes('/api/v1/')) inFlight++;
  });
  const done = (r: { url(): string }) => {
    if (r.url().includes('/api/v1/')) {
      inFlight--;
      lastDone = performance.now();
    }
  };
  page.on('requestfinished', done);
  page.on('requestfailed', done);
  return {
    reset() {
      lastDone = 0;
    },
    async settled(): Promise<number> {
      for (;;) {
        const quietSince = Math.max(lastDone, 0);
        await new Promise((r) => setTimeout(r, QUIET_MS));
        if (inFlight === 0 && lastDone === quietSince) return lastDone;
      }
    },
  };
}

async function nextFrame(page: Page) {
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(undefined))));
}

interface Timing {
  what: string;
  samples: number[];
  goal?: number;
}

const stat = (t: Timing) => {
  const sorted = [...t.samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), max: sorted[sorted.length - 1]! };
};

async function main(): Promise<number> {
  log(`console benchmark: history ${REUSE_URL ? 'reused' : fmtInt(HISTORY) + ' recipients'}, ${ITERATIONS} navigations per screen, ${os.cpus().length} CPUs`);
  await buildConsole({ ifStale: true, quiet: true });
  const js = initialJs();

  const url = REUSE_URL ?? (await startBenchPostgres(cleanups, 'mailer-console-bench-', 'bench_console'));
  const masterKey = crypto.randomBytes(32);
  let seedLine = 'history reused (BENCH_CONSOLE_DATABASE_URL)';
  const dbh = connectDb(url, { max: 2 });
  let key: ApiKey;
  try {
    await migrateToLatest(dbh.db);
    if (!REUSE_URL) {
      const seeded = await seedHistory(dbh.db, { recipients: HISTORY, log });
      seedLine = `history seeded: ${fmtInt(seeded.recipients)} recipients, ${fmtInt(seeded.mails)} mails, ${fmtInt(seeded.requests)} requests in ${seeded.seconds.toFixed(1)} s`;
      log(seedLine);
    }
    key = await createKey(dbh.db, createSecretBox(masterKey), PROJECT);
  } finally {
    await dbh.close();
  }
  const service = await startServiceProcess(cleanups, {
    smtpPort: await freePort(), // ROLE=api sends nothing
    connections: 1,
    log,
    databaseUrl: url,
    env: { MASTER_KEY: masterKey.toString('hex'), ROLE: 'api' },
  });
  const browser = await launchBrowser();
  cleanups.add(() => browser.close(), 'browser');
  const failures: string[] = [];

  const context = await browser.newContext({ locale: 'en', viewport: { width: 1366, height: 900 } });
  await context.addInitScript(() => localStorage.setItem('om.lang', 'en'));
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  const api = apiTracker(page);
  page.on('response', (r) => {
    if (r.url().includes('/api/v1/') && r.status() >= 400) log(`API ${r.request().method()} ${r.url()} answered ${r.status()}`);
  });
  const consoleUrl = `${service.baseUrl}/console/`;

  // Baseline 1: the sign-in page, a full load of the static files with no API call.
  const signInLoad: Timing = { what: 'baseline: sign-in page, full load (static files only)', samples: [] };
  for (let i = 0; i < ITERATIONS + 1; i++) {
    const t = performance.now();
    await page.goto(consoleUrl);
    await page.locator('input[name=accessKey]').waitFor();
    await nextFrame(page);
    if (i > 0) signInLoad.samples.push(performance.now() - t);
  }
  await page.locator('input[name=accessKey]').fill(key.accessKey);
  await page.locator('input[name=secretKey]').fill(key.secretKey);
  await page.locator('form button[type=submit]').click();
  await page.waitForURL(/\/console\/mails/);
  await page.locator('nav.sidenav').waitFor();

  // Baseline 2: the request list's own API call, signed, outside the browser.
  const apiCall: Timing = { what: 'baseline: GET /api/v1/mails/requests alone (signed, default query)', samples: [] };
  for (let i = 0; i < ITERATIONS + 1; i++) {
    const r = await signedCall(service.baseUrl, key, 'GET', '/api/v1/mails/requests');
    if (r.status !== 200) failures.push(`GET /api/v1/mails/requests answered ${r.status}`);
    if (i > 0) apiCall.samples.push(r.ms);
  }

  const screens: Timing[] = SCREENS.map(([p]) => ({ what: `screen ${p}: interactive after a menu click`, samples: [], goal: SCREEN_TARGET_MS }));
  const firstRows: Timing = { what: 'request list: first page shown after a menu click', samples: [], goal: SCREEN_TARGET_MS };
  const reloads: Timing = { what: 'request list: first page shown after a full page load', samples: [], goal: SCREEN_TARGET_MS };
  // The mail list of one request, opened from the request list by a click on its recipient count.
  const MAIL_LISTS = [
    ['first', 'row 1'],
    ['largest', 'largest other row'],
  ] as const;
  const mailLists: Timing[] = MAIL_LISTS.map(([, which]) => ({
    what: `screen /mails/requests/{id}: interactive after a count click (${which})`,
    samples: [],
    goal: SCREEN_TARGET_MS,
  }));
  const mailListsOf: string[] = [];
  for (let i = 0; i < ITERATIONS + 1; i++) {
    for (const [n, [p, name]] of SCREENS.entries()) {
      // From another screen, so the click mounts the screen anew (its data may be cached: as people see it).
      const from = p === '/send' ? 'Mailing list' : 'Send mail';
      await page.getByRole('link', { name: from, exact: true }).click();
      await page.waitForURL(new RegExp(`/console${from === 'Send mail' ? '/send' : '/mails'}`));
      await api.settled();
      api.reset();
      const t = performance.now();
      await page.getByRole('link', { name, exact: true }).click();
      try {
        await page.locator('main h1').first().waitFor();
        if (p === '/mails') {
          await page.locator('main table tbody tr').first().waitFor();
          if (i > 0) firstRows.samples.push(performance.now() - t);
        }
        const last = await api.settled();
        await nextFrame(page);
        const end = Math.max(last, performance.now() - QUIET_MS);
        if (i > 0) screens[n]!.samples.push(end - t);
      } catch (err) {
        failures.push(`${p}: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    for (const [n, [which]] of MAIL_LISTS.entries()) {
      // The request list just shown after a menu click, settled, then a click on a count.
      await page.getByRole('link', { name: 'Send mail', exact: true }).click();
      await page.waitForURL(/\/console\/send/);
      await api.settled();
      await page.getByRole('link', { name: 'Mailing list', exact: true }).click();
      await page.waitForURL(/\/console\/mails$/);
      try {
        const counts = page.locator('main table tbody tr button[aria-label*="(mails of request "]');
        await counts.first().waitFor();
        await api.settled();
        const labels = await counts.evaluateAll((bs) => bs.map((b) => b.getAttribute('aria-label') ?? ''));
        const parsed = labels.map((l) => COUNT_LABEL.exec(l)).map((m) => (m ? { n: Number(m[1]!.replaceAll(',', '')), id: m[2]! } : undefined));
        if (parsed.some((c) => !c)) throw new Error(`a count button's label is not "{n} (mails of request {id})": ${labels.join(' | ')}`);
        let pick = 0;
        if (which === 'largest') {
          if (parsed.length < 2) throw new Error('the first page has one request only');
          pick = 1;
          for (let j = 2; j < parsed.length; j++) if (parsed[j]!.n > parsed[pick]!.n) pick = j;
        }
        const { n: recipients, id } = parsed[pick]!;
        if (i === 0) mailListsOf[n] = `${MAIL_LISTS[n]![1]}: request ${id}, ${fmtInt(recipients)} recipients`;
        api.reset();
        const t = performance.now();
        await counts.nth(pick).click();
        await page.locator('main #ml-list-title').waitFor();
        await page.locator('main table[aria-labelledby=ml-list-title] tbody tr').first().waitFor();
        const last = await api.settled();
        await nextFrame(page);
        const end = Math.max(last, performance.now() - QUIET_MS);
        if (!page.url().includes(`/console/mails/requests/${encodeURIComponent(id)}`)) throw new Error(`the click led to ${page.url()}`);
        if (i > 0) mailLists[n]!.samples.push(end - t);
      } catch (err) {
        failures.push(`/mails/requests/{id} (${which}): ${(err as Error).message.split('\n')[0]}`);
      }
    }
    const t = performance.now();
    await page.goto(`${service.baseUrl}/console/mails`);
    try {
      await page.locator('main table tbody tr').first().waitFor();
      if (i > 0) reloads.samples.push(performance.now() - t);
    } catch (err) {
      failures.push(`/mails reload: ${(err as Error).message.split('\n')[0]}`);
    }
  }

  const width = Math.max(62, ...[...screens, ...mailLists].map((t) => t.what.length));
  const fmt = (t: Timing, base?: Timing) => {
    if (!t.samples.length) return `  ${t.what}: no samples`;
    const s = stat(t);
    const ratio = base ? `  ${(s.p95 / stat(base).p95).toFixed(1)} x baseline` : '';
    const goal = t.goal ? `  target ≤ ${t.goal} ms${s.max <= t.goal ? '' : '  MISSED'}` : '';
    return `  ${t.what.padEnd(width)} p50 ${s.p50.toFixed(0).padStart(5)} ms  p95 ${s.p95.toFixed(0).padStart(5)} ms  max ${s.max.toFixed(0).padStart(5)} ms${goal}${ratio}`;
  };
  const missed = [...screens, ...mailLists, firstRows, reloads].filter((t) => t.samples.length && Math.max(...t.samples) > (t.goal ?? Infinity));
  const lines = [
    '',
    `console benchmark (${ITERATIONS} navigations per screen, headless Chromium, node ${process.version}, ${os.cpus().length} CPUs)`,
    `  ${seedLine}`,
    `  initial JavaScript: ${js.kb.toFixed(1)} KB gzipped (${js.files.join(', ')}); target ≤ ${INITIAL_JS_TARGET_KB} KB${js.kb <= INITIAL_JS_TARGET_KB ? '' : '  MISSED'}; all console JavaScript ${js.allKb.toFixed(1)} KB gzipped`,
    fmt(signInLoad),
    fmt(apiCall),
    ...screens.map((t) => fmt(t, signInLoad)),
    ...mailLists.map((t) => fmt(t, signInLoad)),
    `  mail lists opened: ${mailListsOf.filter(Boolean).join('; ') || 'none'}`,
    fmt(firstRows, apiCall),
    fmt(reloads, apiCall),
    `  targets missed: ${missed.length || js.kb > INITIAL_JS_TARGET_KB ? [...missed.map((t) => t.what), ...(js.kb > INITIAL_JS_TARGET_KB ? ['initial JavaScript'] : [])].join('; ') : 'none'}`,
  ];
  if (failures.length) lines.push('  FAILED:', ...failures.map((f) => `    ${f}`));
  console.log(lines.join('\n'));
  return failures.length ? 1 : 0;
}

await runMain(main, cleanups, log);
