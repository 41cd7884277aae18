// Management screens, end to end in a real browser (issue 14 item 4): unsubscribers (ko), the
// send-block list and its setting with blocked domains (en), access keys (en).
import { describe, expect, it } from '@jest/globals';
import { finishedRequestRow } from '../helpers/test-service.ts';
import { useConsole } from './helpers/console.ts';

const c = useConsole();

describe('unsubscribers screen (ko)', () => {
  const listed = async (query = '') =>
    ((await c.svc.call('GET', `/api/v1/unsubscribers${query}`).expect(200)).body.content as { address: string; isRegByManager: boolean }[])
      .map((r) => r.address)
      .sort();

  it('adds addresses, lists and searches them, removes one from its row and others by typing them', async () => {
    const page = await c.signedInPage('ko');
    await page.getByRole('link', { name: '수신 거부 관리' }).click();
    await page.getByRole('heading', { name: '수신 거부 관리', level: 1 }).waitFor();
    await page.getByText('수신 거부 주소가 없습니다.').waitFor();

    // nothing typed: said next to the field, nothing sent
    const form = page.getByRole('form', { name: '수신 거부 주소 등록·해제' });
    await form.getByRole('button', { name: '수신 거부 등록' }).click();
    await form.getByText('이메일 주소를 입력하세요.').waitFor();

    await form.getByLabel('이메일 주소').fill('kim@example.com\nlee@example.com; KIM@example.com\npark@example.net');
    await form.getByRole('button', { name: '수신 거부 등록' }).click();
    await page.getByRole('status').filter({ hasText: '3건을 등록했습니다(제외 1건).' }).waitFor();
    expect(await listed()).toEqual(['kim@example.com', 'lee@example.com', 'park@example.net']);
    const table = page.getByRole('table', { name: '수신 거부 목록' });
    await table.getByRole('row', { name: /park@example\.net/ }).waitFor();
    await expect(table.getByRole('row').count()).resolves.toBe(4); // header + 3
    await expect(table.getByRole('row', { name: /kim@example\.com/ }).textContent()).resolves.toContain('관리자 등록');

    // search (part of the address)
    await page.getByLabel('이메일 주소(부분 일치)').fill('example.net');
    await page.getByRole('button', { name: '검색', exact: true }).click();
    await table.getByRole('row', { name: /kim@example\.com/ }).waitFor({ state: 'detached' });
    await expect(table.getByRole('row').count()).resolves.toBe(2);
    await page.getByRole('button', { name: '초기화' }).click();
    await table.getByRole('row', { name: /kim@example\.com/ }).waitFor();
    // registered by a recipient (an unsubscribe link): none of these
    await page.getByLabel('등록 방법').selectOption({ label: '수신자 거부' });
    await page.getByRole('button', { name: '검색', exact: true }).click();
    await table.getByText('수신 거부 주소가 없습니다.').waitFor();
    await page.getByLabel('등록 방법').selectOption({ label: '관리자 등록' });
    await page.getByRole('button', { name: '검색', exact: true }).click();
    await table.getByRole('row', { name: /kim@example\.com/ }).waitFor();
    // registered from tomorrow on: none; until today: all
    const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
    await page.getByLabel('등록일(시작)').fill(day(2));
    await page.getByRole('button', { name: '검색', exact: true }).click();
    await table.getByText('수신 거부 주소가 없습니다.').waitFor();
    await page.getByLabel('등록일(시작)').fill(day(-2));
    await page.getByLabel('등록일(종료)').fill(day(2));
    await page.getByRole('button', { name: '검색', exact: true }).click();
    await table.getByRole('row', { name: /kim@example\.com/ }).waitFor();
    await expect(table.getByRole('row').count()).resolves.toBe(4);
    await page.getByRole('button', { name: '초기화' }).click();

    // remove from the row, confirmed
    await page.getByRole('button', { name: '해제 lee@example.com' }).click();
    const dialog = page.getByRole('dialog', { name: '확인' });
    await dialog.getByText('lee@example.com의 수신 거부를 해제하시겠습니까?').waitFor();
    await c.expectAccessible(page, 'unsubscriber remove confirm dialog');
    await c.screenshot(page, 'manage-unsubscribers-confirm-ko');
    await dialog.getByRole('button', { name: '해제' }).click();
    await table.getByRole('row', { name: /lee@example\.com/ }).waitFor({ state: 'detached' });
    expect(await listed()).toEqual(['kim@example.com', 'park@example.net']);

    // remove by typing
    await form.getByLabel('이메일 주소').fill('KIM@example.com nobody@example.com');
    await form.getByRole('button', { name: '수신 거부 해제' }).click();
    await page.getByRole('status').filter({ hasText: '1건을 해제했습니다(제외 1건).' }).waitFor();
    expect(await listed()).toEqual(['park@example.net']);

    // paged by 20
    const many = Array.from({ length: 25 }, (_, i) => `user${i}@example.org`);
    await c.svc.call('POST', '/api/v1/unsubscribers', { body: { blockedReceivers: many } }).expect(201);
    await page.getByRole('button', { name: '새로 고침' }).click();
    await page.getByText('총 26건').waitFor();
    await expect(table.getByRole('row').count()).resolves.toBe(21);
    await page.getByText('1 / 2 페이지').waitFor();
    await page.getByRole('button', { name: '다음' }).click();
    await page.getByText('2 / 2 페이지').waitFor();
    await expect(table.getByRole('row').count()).resolves.toBe(7);
    expect(await page.getByRole('button', { name: '다음' }).isDisabled()).toBe(true);
  }, 60_000);
});

describe('send-block screen (en)', () => {
  it('shows and changes the send-block period', async () => {
    const page = await c.signedInPage('en');
    await page.getByRole('link', { name: 'Send block' }).click();
    await page.getByRole('heading', { name: 'Send block', level: 1 }).waitFor();
    await page.getByText('Current setting: 168 hours').waitFor();
    const form = page.getByRole('form', { name: 'Send-block period' });
    await form.getByLabel('Period').fill('2');
    await form.getByLabel('Unit').selectOption('DAY');
    await form.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'The send-block period is now 48 hours.' }).waitFor();
    await page.getByText('Current setting: 48 hours').waitFor();
    expect((await c.svc.call('GET', '/api/v1/config?type=SEND_BLOCK_TIME').expect(200)).body.value).toBe('48');
    // out of range: the API's message
    await form.getByLabel('Unit').selectOption('HOUR');
    await form.getByLabel('Period').fill('9000');
    await form.getByRole('button', { name: 'Save' }).click();
    await form.getByRole('alert').filter({ hasText: /value/ }).waitFor();
    expect((await c.svc.call('GET', '/api/v1/config?type=SEND_BLOCK_TIME').expect(200)).body.value).toBe('48');
  }, 60_000);

  it('looks up an address: not blocked, then blocked with its history after a hard bounce', async () => {
    const page = await c.signedInPage('en');
    await page.goto(c.url('/send-block'));
    const lookup = page.getByRole('form', { name: 'Look up an address' });
    await lookup.getByLabel('E-mail address').fill('gone@example.com');
    await lookup.getByRole('button', { name: 'Look up' }).click();
    await page.getByText('No send-block history.').waitFor();
    await page.getByText(/State: Not blocked/).waitFor();

    c.sink.onRcpt((a) => (a === 'gone@example.com' ? 'reject' : 'accept'));
    try {
      const res = await c.svc
        .call('POST', '/api/v1/mails', { body: { senderAddress: 'a@company.example', title: 'x', body: 'x', recipients: [{ address: 'gone@example.com' }] } })
        .expect(201);
      await finishedRequestRow(c.svc, res.body.requestId);
    } finally {
      c.sink.onRcpt(() => 'accept');
    }
    await lookup.getByRole('button', { name: 'Look up' }).click();
    const history = page.getByRole('table', { name: 'Look up an address' });
    await history.getByRole('row', { name: /RECIPIENT_ADDRESS_ERROR|MAILBOX_ERROR/ }).waitFor();
    await page.getByText(/State: Blocked/).waitFor();
    await page.getByText(/Block ends: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d/).waitFor();
  }, 60_000);

  it('adds blocked domains, searches and removes one', async () => {
    const page = await c.signedInPage('en');
    await page.goto(c.url('/send-block'));
    const form = page.getByRole('form', { name: 'Blocked domains', exact: true });
    await form.getByLabel('Domains').fill('spam.example, Junk.Example.NET');
    await form.getByRole('button', { name: 'Add domains' }).click();
    await page.getByRole('status').filter({ hasText: '2 added (0 left as they were).' }).waitFor();
    const table = page.getByRole('table', { name: 'Blocked domains' });
    await table.getByRole('row', { name: /junk\.example\.net/ }).waitFor();
    const domains = async () =>
      ((await c.svc.call('GET', '/api/v1/blocked-domains').expect(200)).body.content as { domain: string }[]).map((d) => d.domain).sort();
    expect(await domains()).toEqual(['junk.example.net', 'spam.example']);

    // a bare TLD is refused: the API's message
    await form.getByLabel('Domains').fill('com');
    await form.getByRole('button', { name: 'Add domains' }).click();
    await form.getByRole('alert').waitFor();
    expect(await domains()).toEqual(['junk.example.net', 'spam.example']);

    await page.getByLabel('Domain (contains)').fill('junk');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await table.getByRole('row', { name: /spam\.example/ }).waitFor({ state: 'detached' });

    await page.getByRole('button', { name: 'Remove junk.example.net' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
    await page.getByRole('status').filter({ hasText: '1 removed.' }).waitFor();
    await page.getByText('No blocked domains.').waitFor();
    expect(await domains()).toEqual(['spam.example']);
  }, 60_000);
});

describe('access keys screen (en)', () => {
  it('creates a key (the secret shown once), which signs requests; revokes it, and it no longer does', async () => {
    const page = await c.signedInPage('en');
    await page.getByRole('link', { name: 'Access keys' }).click();
    await page.getByRole('heading', { name: 'Access keys', level: 1 }).waitFor();
    const table = page.getByRole('table', { name: 'Access keys' });
    // the session's own key: listed as in use, with no revoke button
    const own = table.getByRole('row', { name: new RegExp(c.svc.key.accessKey.replace(/[-]/g, '\\-')) });
    await own.getByText('In use (this session)').waitFor();
    await expect(own.getByRole('button').count()).resolves.toBe(0);
    await expect(own.textContent()).resolves.toContain(`…${c.svc.key.secretKey.slice(-4)}`);

    await page.getByRole('button', { name: 'Create access key' }).click();
    const dialog = page.getByRole('dialog', { name: 'Access key created' });
    await dialog.getByText('The secret key is shown only here.', { exact: false }).waitFor();
    const accessKey = (await dialog.getByLabel('Access key', { exact: true }).textContent())!;
    const secretKey = (await dialog.getByLabel('Secret key', { exact: true }).textContent())!;
    expect(accessKey).toMatch(/^[\w-]{20}$/);
    expect(secretKey).toMatch(/^[\w-]{40}$/);
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'hidden' });
    // shown once: gone from the page, and the list has only its last four characters
    expect(await page.content()).not.toContain(secretKey);
    const row = table.getByRole('row', { name: new RegExp(accessKey.replace(/[-]/g, '\\-')) });
    await row.getByText('Active').waitFor();
    await expect(row.textContent()).resolves.toContain(`…${secretKey.slice(-4)}`);

    const key = { accessKey, secretKey, projectId: c.svc.key.projectId, projectName: c.svc.key.projectName };
    await c.svc.call('GET', '/api/v1/mails/requests', { key }).expect(200);

    await row.getByRole('button', { name: `Revoke ${accessKey}` }).click();
    const confirm = page.getByRole('dialog', { name: 'Confirm' });
    await confirm.getByText(`Revoke access key ${accessKey}?`, { exact: false }).waitFor();
    await confirm.getByRole('button', { name: 'Revoke' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Access key ${accessKey} was revoked.` })
      .waitFor();
    await row.getByText(/^Revoked \(\d{4}-/).waitFor();
    await expect(row.getByRole('button').count()).resolves.toBe(0);
    await c.svc.call('GET', '/api/v1/mails/requests', { key }).expect(401);
  }, 60_000);
});
