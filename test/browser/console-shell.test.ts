import { describe, expect, test } from '@jest/globals';
import { LANGS, useConsole } from './helpers/console.ts';

const c = useConsole();

const NAV_MAILS = { ja: 'メール送信リスト', ko: '메일 발송 목록', en: 'Mailing list' } as const;
const SIGN_IN = { ja: 'サインイン', ko: '로그인', en: 'Sign in' } as const;

describe('console shell: sign-in, languages, sign-out', () => {
  test.each(LANGS)('the sign-in page in %s: labelled, accessible, refuses a wrong secret', async (lang) => {
    const page = await c.newPage(lang);
    await expect(page.getByRole('heading', { name: SIGN_IN[lang] })).toBeTruthy();
    await page.getByRole('heading', { name: SIGN_IN[lang] }).waitFor();
    expect(await page.evaluate(() => document.documentElement.lang)).toBe(lang);
    await c.expectAccessible(page, `sign-in ${lang}`);
    await c.screenshot(page, `sign-in-${lang}`);
    await page.locator('input[name=accessKey]').fill(c.svc.key.accessKey);
    await page.locator('input[name=secretKey]').fill(`${c.svc.key.secretKey}x`);
    await page.locator('form button[type=submit]').click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).not.toBe('');
    expect((await page.context().cookies()).filter((k) => k.name === 'om_session')).toEqual([]);
  });

  test.each(LANGS)('signed in (%s): the cookie is HttpOnly and SameSite=Strict, the navigation is in the language, axe passes', async (lang) => {
    const page = await c.signedInPage(lang);
    const cookie = (await page.context().cookies()).find((k) => k.name === 'om_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(await page.evaluate(() => document.cookie)).not.toContain('om_session');
    await page.getByRole('link', { name: NAV_MAILS[lang] }).waitFor();
    await c.expectAccessible(page, `shell ${lang}`);
  });

  test('the language can be changed while signed in, and it stays after a reload', async () => {
    const page = await c.signedInPage('ja');
    await page.getByRole('combobox', { name: '言語' }).selectOption('ko');
    await page.getByRole('link', { name: NAV_MAILS.ko }).waitFor();
    await page.reload();
    await page.getByRole('link', { name: NAV_MAILS.ko }).waitFor();
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('ko');
  });

  test('keyboard only: sign in with Tab and Enter', async () => {
    const page = await c.newPage('en');
    await page.locator('input[name=accessKey]').focus();
    await page.keyboard.type(c.svc.key.accessKey);
    await page.keyboard.press('Tab');
    await page.keyboard.type(c.svc.key.secretKey);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/console\/mails/);
  });

  test('sign-out ends the session on the server: the old cookie no longer authenticates the API', async () => {
    const page = await c.signedInPage('en');
    const cookie = (await page.context().cookies()).find((k) => k.name === 'om_session')!;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    const res = await fetch(`${c.origin}/api/v1/mails/requests`, { headers: { cookie: `om_session=${cookie.value}` } });
    expect(res.status).toBe(401);
  });

  test('a screen URL can be opened directly and reloaded (the service answers the page for every console path)', async () => {
    const page = await c.signedInPage('en');
    await page.goto(c.url('/templates'));
    await page.getByRole('link', { name: 'Templates' }).waitFor();
    expect(await page.getByRole('link', { name: 'Templates' }).getAttribute('aria-current')).toBe('page');
  });
});

describe('console page security', () => {
  test('the page answers with its CSP, and an injected inline script is refused by it', async () => {
    const page = await c.newPage('en');
    const res = await page.goto(c.url('/'));
    expect(res!.headers()['content-security-policy']).toMatch(/script-src 'self'/);
    const ran = await page.evaluate(async () => {
      const w = window as unknown as { __inlineRan?: boolean; __cspViolations: string[] };
      const s = document.createElement('script');
      s.textContent = 'window.__inlineRan = true';
      document.body.appendChild(s);
      // the violation event comes asynchronously: up to 2 s for it on a busy machine
      for (let i = 0; i < 40 && !w.__cspViolations.length; i++) await new Promise((r) => setTimeout(r, 50));
      return { ran: w.__inlineRan === true, violations: w.__cspViolations.length };
    });
    expect(ran).toEqual({ ran: false, violations: 1 });
  });
});
