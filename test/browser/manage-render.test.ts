// Management screens in ja, ko and en (issue 14 item 4): each renders with its data, axe-core finds
// no serious or critical violation, a screenshot of each is kept; and one flow by keyboard alone.
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { Locator, Page } from 'playwright-core';
import { sql } from 'kysely';
import { useConsole } from './helpers/console.ts';

const c = useConsole();

beforeAll(async () => {
  const cat = (await c.svc.call('POST', '/api/v1/category', { body: { categoryName: 'Campaigns' } }).expect(201)).body;
  const tpl = { title: 'Hello ${NAME}', body: '<p>Hello</p>', senderAddress: 'news@company.example', senderName: 'Company' };
  await c.svc.call('POST', '/api/v1/template', { body: { ...tpl, templateName: 'Spring sale', categorySid: cat.sid } }).expect(201);
  const old = (await c.svc.call('POST', '/api/v1/template', { body: { ...tpl, templateName: 'Old notice' } }).expect(201)).body;
  await c.svc.call('DELETE', `/api/v1/template/${old.sid}`).expect(200);
  await c.svc
    .call('POST', '/api/v1/address-book', {
      body: { groups: [{ groupName: 'vip', emailAddresses: ['kim@example.com', 'lee@example.com'] }, { groupName: 'news' }] },
    })
    .expect(201);
  await c.svc.call('POST', '/api/v1/unsubscribers', { body: { blockedReceivers: ['out@example.com', 'gone@example.net'] } }).expect(201);
  await c.svc.call('POST', '/api/v1/blocked-domains', { body: { domains: ['spam.example'] } }).expect(201);
  await c.svc.call('POST', '/api/v1/access-keys').expect(201);
  // a domain paused after a slow-down reply, as delivery leaves it (issue 16)
  await sql`
    INSERT INTO delivery_throttle (key, per_minute, connections, tokens, refilled_at, minute_start, minute_count, backoff_level, paused_until, last_reply, last_reply_at)
    VALUES ('domain:slow.example', 6000, 10, 0, now(), date_trunc('minute', now()), 42, 2, now() + interval '1 hour', '421 4.7.0 Try again later, closing connection.', now())
  `.execute(c.svc.db.db);
});

const SCREENS: { path: string; name: string; heading: Record<'ja' | 'ko' | 'en', string>; shows: string }[] = [
  { path: '/templates', name: 'templates', heading: { ja: 'テンプレート', ko: '템플릿', en: 'Templates' }, shows: 'Spring sale' },
  { path: '/address-book', name: 'address-book', heading: { ja: 'アドレス帳', ko: '주소록', en: 'Address book' }, shows: 'vip' },
  { path: '/unsubscribers', name: 'unsubscribers', heading: { ja: '受信拒否管理', ko: '수신 거부 관리', en: 'Unsubscribers' }, shows: 'out@example.com' },
  { path: '/send-block', name: 'send-block', heading: { ja: '送信ブロック', ko: '발송 차단', en: 'Send block' }, shows: 'spam.example' },
  { path: '/keys', name: 'access-keys', heading: { ja: 'アクセスキー', ko: '액세스 키', en: 'Access keys' }, shows: '' },
  {
    path: '/delivery',
    name: 'delivery',
    heading: { ja: '配信状況(宛先ドメイン別)', ko: '전송 현황(수신 도메인별)', en: 'Delivery by destination domain' },
    shows: 'slow.example',
  },
];

describe.each(['ja', 'ko', 'en'] as const)('management screens in %s', (lang) => {
  it.each(SCREENS.map((s) => [s.name, s] as const))(
    '%s renders its data, is accessible and is captured',
    async (_name, screen) => {
      const page = await c.signedInPage(lang);
      await page.goto(c.url(screen.path));
      await page.getByRole('heading', { name: screen.heading[lang], level: 1, exact: true }).waitFor();
      const shows = screen.name === 'access-keys' ? c.svc.key.accessKey : screen.shows;
      await page.getByRole('main').getByText(shows, { exact: true }).first().waitFor();
      // the document's language follows the choice
      expect(await page.evaluate(() => document.documentElement.lang)).toBe(lang);
      await c.expectAccessible(page);
      await c.screenshot(page, `manage-${screen.name}-${lang}`);
    },
    60_000,
  );
});

describe('dialogs are accessible too', () => {
  it('the template editor, the category dialog and the new-key dialog (ja)', async () => {
    const page = await c.signedInPage('ja');
    await page.goto(c.url('/templates'));
    await page.getByRole('button', { name: 'Spring sale' }).click();
    await page.getByRole('form', { name: 'テンプレートの編集' }).waitFor();
    await c.expectAccessible(page);
    await c.screenshot(page, 'manage-templates-editor-ja');
    await page.getByRole('button', { name: 'カテゴリ作成' }).click();
    await page.getByRole('dialog', { name: 'カテゴリ作成' }).waitFor();
    await c.expectAccessible(page);
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'hidden' });

    await page.goto(c.url('/keys'));
    await page.getByRole('button', { name: 'アクセスキーを作成' }).click();
    await page.getByRole('dialog', { name: 'アクセスキーを作成しました' }).waitFor();
    await c.expectAccessible(page);
    await c.screenshot(page, 'manage-access-keys-created-ja');
  }, 60_000);
});

/** Presses Tab (Shift+Tab with `back`) until `target` has the focus; fails after `max` presses. */
async function tabTo(page: Page, target: Locator, { back = false, max = 80 } = {}) {
  for (let i = 0; i < max; i++) {
    if (await target.evaluate((el) => el === document.activeElement).catch(() => false)) return;
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
  }
  throw new Error(`could not reach ${target} with the keyboard`);
}

describe('keyboard only', () => {
  it('creates an access key, closes its dialog, and revokes the key with its confirm dialog, without the mouse (en)', async () => {
    const page = await c.signedInPage('en');
    await page.goto(c.url('/keys'));
    await page.getByRole('heading', { name: 'Access keys', level: 1 }).waitFor();
    const before = (await c.svc.call('GET', '/api/v1/access-keys').expect(200)).body.content.length;

    await tabTo(page, page.getByRole('button', { name: 'Create access key' }));
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Access key created' });
    await dialog.waitFor();
    // the focus moved into the dialog
    expect(await dialog.evaluate((d) => d.contains(document.activeElement))).toBe(true);
    const accessKey = (await dialog.getByLabel('Access key', { exact: true }).textContent())!;
    await tabTo(page, dialog.getByRole('button', { name: 'Close' }));
    await page.keyboard.press('Enter');
    await dialog.waitFor({ state: 'hidden' });
    const keys = (await c.svc.call('GET', '/api/v1/access-keys').expect(200)).body.content as { accessKey: string; revoked: boolean }[];
    expect(keys.length).toBe(before + 1);

    const revoke = page.getByRole('button', { name: `Revoke ${accessKey}` });
    await tabTo(page, revoke);
    await page.keyboard.press('Enter');
    const confirm = page.getByRole('dialog', { name: 'Confirm' });
    await confirm.waitFor();
    // Escape cancels
    await page.keyboard.press('Escape');
    await confirm.waitFor({ state: 'hidden' });
    await tabTo(page, revoke, { back: true });
    await page.keyboard.press('Enter');
    await confirm.waitFor();
    await tabTo(page, confirm.getByRole('button', { name: 'Revoke' }));
    await page.keyboard.press('Enter');
    await page
      .getByRole('status')
      .filter({ hasText: `Access key ${accessKey} was revoked.` })
      .waitFor();
    const after = (await c.svc.call('GET', '/api/v1/access-keys').expect(200)).body.content as { accessKey: string; revoked: boolean }[];
    expect(after.find((k) => k.accessKey === accessKey)?.revoked).toBe(true);
  }, 60_000);
});
