// The "Sender domains" screen (issue 15 item 1) in ja, ko and en: it lists the domains with the
// records to publish, verifies one through the loopback DNS server (DNS_SERVERS), and deletes
// one; axe-core finds no serious or critical violation, and a screenshot of each is kept.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { LANGS, useConsole } from './helpers/console.ts';

let dns: TestDnsServer;
const env: Record<string, string> = {};
// Before the service starts (useConsole's hooks come next): DNS_SERVERS names this server.
beforeAll(async () => {
  dns = await startTestDnsServer();
  env.DNS_SERVERS = dns.server;
});
afterAll(async () => {
  await dns.close();
});
const c = useConsole({ env });

const HEADING = { ja: '送信ドメイン', ko: '발신 도메인', en: 'Sender domains' } as const;
const VERIFIED = { ja: '認証済み', ko: '인증됨', en: 'Verified' } as const;
const VERIFY = { ja: '認証', ko: '인증', en: 'Verify' } as const;
const DELETE = { ja: '削除', ko: '삭제', en: 'Delete' } as const;

describe.each(LANGS)('sender domains screen in %s', (lang) => {
  it('adds a domain, shows the records to publish, verifies it once published, and deletes it', async () => {
    const name = `${lang}-shop.example.com`;
    const page = await c.signedInPage(lang);
    // the nav entry leads to the screen
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: HEADING[lang], exact: true }).click();
    await page.getByRole('heading', { name: HEADING[lang], level: 1, exact: true }).waitFor();

    await page.locator('input[name=domain]').fill(name);
    await page.locator('form button[type=submit]').click();
    const card = page.locator(`article[data-domain="${name}"]`);
    await card.waitFor();
    const d = (await c.svc.call('GET', `/api/v1/domains/${name}`).expect(200)).body;
    // the records, as the API gives them
    for (const text of [d.dkim.dnsName, d.dkim.dnsValue, d.spf.dnsValue, d.dmarc.dnsName]) await card.getByText(text, { exact: true }).waitFor();
    await c.expectAccessible(page);
    await c.screenshot(page, `domains-pending-${lang}`);

    // published: [verify] turns it V
    dns.txt.set(d.dkim.dnsName, [d.dkim.dnsValue]);
    await card.getByRole('button', { name: `${VERIFY[lang]} ${name}` }).click();
    await card.getByRole('heading', { level: 2 }).filter({ hasText: VERIFIED[lang] }).waitFor();
    expect((await c.svc.call('GET', `/api/v1/domains/${name}`).expect(200)).body.status.code).toBe('V');
    await c.expectAccessible(page);
    await c.screenshot(page, `domains-verified-${lang}`);

    if (lang === 'en') {
      // [rotate key]: a second key to publish; the first one still signs until it verifies
      await card.getByRole('button', { name: `Rotate key ${name}` }).click();
      await card.getByText('Pending verification', { exact: true }).waitFor();
      const rotated = (await c.svc.call('GET', `/api/v1/domains/${name}`).expect(200)).body;
      expect(rotated.dkimKeys.map((k: { signing: boolean }) => k.signing)).toEqual([true, false]);
      await card.getByText(rotated.dkim.dnsValue, { exact: true }).waitFor();
      dns.txt.set(rotated.dkim.dnsName, [rotated.dkim.dnsValue]);
      await card.getByRole('button', { name: `Verify ${name}` }).click();
      // the new key signs: the old one can be removed
      await card.getByRole('button', { name: `Remove old key ${d.dkim.selector}` }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Remove old key', exact: true }).click();
      await card.getByText(d.dkim.dnsName, { exact: true }).waitFor({ state: 'detached' });
      expect((await c.svc.call('GET', `/api/v1/domains/${name}`).expect(200)).body.dkimKeys.map((k: { selector: string }) => k.selector)).toEqual([
        rotated.dkim.selector,
      ]);
      await c.screenshot(page, 'domains-rotated-en');
    }

    // [delete], confirmed in the dialog
    await card.getByRole('button', { name: `${DELETE[lang]} ${name}` }).click();
    const confirm = page.getByRole('dialog');
    await confirm.waitFor();
    await c.expectAccessible(page);
    await confirm.getByRole('button', { name: DELETE[lang], exact: true }).click();
    await card.waitFor({ state: 'detached' });
    await c.svc.call('GET', `/api/v1/domains/${name}`).expect(400);
  }, 90_000);
});
