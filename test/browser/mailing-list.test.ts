import { beforeAll, describe, expect, it } from '@jest/globals';
import type { Locator, Page } from 'playwright-core';
import { parseNumericId } from '../../src/shared/ids.ts';
import { readXlsx } from '../helpers/xlsx-sheet.ts';
import { finishedRequestRow, waitFor } from '../helpers/test-service.ts';
import { useConsole } from './helpers/console.ts';

// The Mailing list screen (guide: "Mailing list"): both list tabs, the eight search fields,
// paging and sorting, the mail list of a request, the mail detail (content only in a sandboxed
// frame, attachments), send-now / cancel / cancel-reservation with their confirm popups, the
// legends and the Excel download, in ja, ko and en, with axe and screenshots.

const c = useConsole();

const DAY = 86_400_000;
const SCRIPT_BODY =
  '<p>Hello alpha</p><script>document.title = "pwned"; try { window.parent.document.title = "pwned"; } catch (e) {} document.body.setAttribute("data-ran", "1"); document.write("SCRIPT RAN");</script>';

const ids: Record<string, string> = {};
let templateSid = 0;
let consoleRequestId = '';
const ATTACHMENT = Buffer.from('quarterly numbers\r\n1,2,3\r\n');

async function send(body: Record<string, unknown>): Promise<string> {
  const res = await c.svc.call('POST', '/api/v1/mails', { body }).expect(201);
  return res.body.requestId as string;
}

const reserved = (title: string, to: string) =>
  send({ senderAddress: 'reserve@company.test', title, body: `<p>${title}</p>`, recipients: [{ address: to }], reservationUtc: Date.now() + 2 * DAY });

beforeAll(async () => {
  const upload = await c.svc.call('POST', '/api/v1/files').attach('fileList', ATTACHMENT, 'report.txt').expect(201);
  const fileId = upload.body.files[0].fileId as string;
  const tpl = await c.svc
    .call('POST', '/api/v1/template', {
      body: { templateName: 'news letter', title: 'Beta news', body: '<p>beta</p>', senderAddress: 'beta@company.test', senderName: 'Beta Sender' },
    })
    .expect(201);
  templateSid = tpl.body.sid;
  ids.alpha = await send({
    senderAddress: 'alpha@company.test',
    senderName: 'Alpha Sender',
    title: 'Alpha report',
    body: SCRIPT_BODY,
    recipients: [{ address: 'x1@sink.test', name: 'X One' }, { address: 'x2@sink.test' }, { address: 'x3@sink.test' }],
    attachFileIds: [fileId],
  });
  ids.beta = await send({ templateSid, recipients: [{ address: 'y1@sink.test' }, { address: 'y2@sink.test' }], advertising: true });
  for (let i = 1; i <= 9; i++) {
    ids[`bulk${i}`] = await send({
      senderAddress: 'bulk@company.test',
      title: `Bulk ${i}`,
      body: `<p>bulk ${i}</p>`,
      recipients: [{ address: `b${i}@sink.test` }],
    });
  }
  ids.gamma = await reserved('Gamma reserved', 'g1@sink.test');
  ids.delta = await reserved('Delta reserved', 'd1@sink.test');
  ids.epsilon = await reserved('Epsilon reserved', 'e1@sink.test');
  ids.zeta = await reserved('Zeta reserved', 'z1@sink.test');
  for (const k of ['alpha', 'beta', ...Array.from({ length: 9 }, (_, i) => `bulk${i + 1}`)]) await finishedRequestRow(c.svc, ids[k]!);
  // A request from the console's own session: dispatchType CONSOLE.
  const page = await c.signedInPage('en');
  consoleRequestId = await page.evaluate(async () => {
    const s = (await (await fetch('/console/session')).json()) as { csrfToken: string };
    const res = await fetch('/api/v1/mails', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': s.csrfToken },
      body: JSON.stringify({ senderAddress: 'console@company.test', title: 'From the console', body: '<p>c</p>', recipients: [{ address: 'c1@sink.test' }] }),
    });
    return ((await res.json()) as { requestId: string }).requestId;
  });
  await page.context().close();
  await finishedRequestRow(c.svc, consoleRequestId);
}, 120_000);

const TOTAL_REQUESTS = () => Object.keys(ids).length + 1;

function table(page: Page): Locator {
  return page.locator('table.ml-table');
}
function requestRow(page: Page, id: string): Locator {
  return page.locator(`tr[data-request-id="${id}"]`);
}
async function shownRequestIds(page: Page): Promise<string[]> {
  await expectNotBusy(page);
  return table(page)
    .locator('tbody tr[data-request-id]')
    .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-request-id') ?? ''));
}
/** [ダウンロードリクエスト/リスト]: the export popup, opened. */
async function openExportDialog(page: Page) {
  await page.getByRole('button', { name: 'ダウンロードリクエスト/リスト' }).click();
  return page.getByRole('dialog', { name: 'エクセルダウンロードリスト' });
}

async function expectNotBusy(page: Page) {
  await table(page).and(page.locator(':not([aria-busy])')).waitFor();
}
async function search(page: Page) {
  await page.getByRole('search').getByRole('button', { name: '検索', exact: true }).click();
  await expectNotBusy(page);
}
async function resetSearch(page: Page) {
  await page.getByRole('search').getByRole('button', { name: 'リセット' }).click();
  await expectNotBusy(page);
}
async function text(l: Locator): Promise<string> {
  return (await l.textContent()) ?? '';
}
function sorted<T>(a: T[]) {
  return [...a].sort();
}
/** Clicks an export's download link: the file's sheets (it must be an .xlsx that opens). */
async function downloadedSheets(page: Page, link: Locator) {
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const fs = await import('node:fs');
  const buf = fs.readFileSync((await download.path())!);
  expect(buf.subarray(0, 2).toString()).toBe('PK');
  return (await readXlsx(buf)).sheets;
}
/** The send status codes of the recipient rows shown, in order. */
async function shownRecipientStatuses(page: Page): Promise<string[]> {
  await expectNotBusy(page);
  return table(page)
    .locator('tbody tr[data-mail-id] td:nth-child(6) [data-code]')
    .evaluateAll((els) => els.map((e) => e.getAttribute('data-code') ?? ''));
}

describe('Mailing list (ja)', () => {
  it('lists requests by request with the guide fields, and recipients by recipient', async () => {
    const page = await c.signedInPage('ja');
    await page.goto(c.url('/mails?size=50'));
    await page.getByRole('heading', { level: 1, name: 'Mailing list' }).waitFor();
    await expect(page.getByRole('tab', { name: 'リクエスト別リスト' }).getAttribute('aria-selected')).resolves.toBe('true');
    for (const h of [
      'Request ID',
      '送信者アドレス',
      'リクエスト日時',
      '送信日時',
      '送信所要時間',
      '予約送信かどうか',
      'キャンセル日時',
      'リクエスト数',
      '送信状態',
      '送信者名',
      'Template ID',
      'Template Name',
      'リクエストIP',
      '送信リクエストツール',
      '広告メールかどうか',
      '受信者数',
    ]) {
      await expect(table(page).getByRole('columnheader', { name: h, exact: false }).count()).resolves.toBeGreaterThan(0);
    }
    await page.getByText(`全 ${TOTAL_REQUESTS()} 件`).waitFor();
    const alpha = requestRow(page, ids.alpha!);
    const alphaText = await text(alpha);
    for (const s of [ids.alpha!, 'alpha@company.test', 'Alpha Sender', '送信成功', '即時送信', 'API', '一般メール', 'Alpha report'])
      expect(alphaText).toContain(s);
    await alpha.getByRole('button', { name: /^3\b/ }).waitFor();
    const beta = await text(requestRow(page, ids.beta!));
    for (const s of [String(templateSid), 'news letter', 'Beta Sender', '広告メール']) expect(beta).toContain(s);
    const gamma = await text(requestRow(page, ids.gamma!));
    expect(gamma).toContain('送信準備');
    expect(gamma).toContain('予約送信');
    expect(await text(requestRow(page, consoleRequestId))).toContain('CONSOLE');
    await c.expectAccessible(page);
    await c.screenshot(page, 'mailing-list-requests-ja');

    await page.getByRole('tab', { name: '受信者別リスト' }).click();
    await expect(page.url()).toContain('tab=recipients');
    await expectNotBusy(page);
    for (const h of [
      'Mail ID',
      'Request ID',
      '予約送信日時',
      'アドレス',
      '受信したかどうか',
      '受信拒否状態かどうか',
      '送信結果コード',
      '再送信回数',
      '受信日',
      '受信拒否日',
      '件名',
      'Project ID',
    ]) {
      await expect(table(page).getByRole('columnheader', { name: h, exact: false }).count()).resolves.toBeGreaterThan(0);
    }
    const x2 = table(page).locator('tr', { hasText: 'x2@sink.test' });
    const x2Text = await text(x2);
    for (const s of [ids.alpha!, 'MAIL_SENT', '送信成功', 'はい', 'Alpha report']) expect(x2Text).toContain(s);
    await c.expectAccessible(page);
    await c.screenshot(page, 'mailing-list-recipients-ja');
    await page.context().close();
  });

  it('shows the details of a request from its Request ID, with [メール別リストを見る]', async () => {
    const page = await c.signedInPage('ja');
    await page.goto(c.url('/mails?size=50'));
    await requestRow(page, ids.beta!)
      .getByRole('button', { name: `Request ID ${ids.beta} の詳細` })
      .click();
    const dialog = page.getByRole('dialog', { name: 'リクエストの詳細' });
    await dialog.waitFor();
    const shown = await text(dialog);
    for (const s of [ids.beta!, 'beta@company.test', 'Beta Sender', 'news letter', String(templateSid), '広告メール', '送信成功', 'API', '127.0.0.1'])
      expect(shown).toContain(s);
    await c.expectAccessible(page);
    await dialog.getByRole('button', { name: 'メール別リストを見る' }).click();
    await page.waitForURL(`**/console/mails/requests/${ids.beta}`);
    await table(page).locator('tbody tr[data-mail-id]').first().waitFor();
    await expect(table(page).locator('tbody tr[data-mail-id]').count()).resolves.toBe(2);
    await page.context().close();
  });

  it('filters by each of the eight search fields, kept in the URL across reload and back', async () => {
    const page = await c.signedInPage('ja');
    await page.goto(c.url('/mails?size=50'));
    await expectNotBusy(page);
    const bar = page.getByRole('search');
    const all = await shownRequestIds(page);
    expect(all).toHaveLength(TOTAL_REQUESTS());

    // status
    await bar.getByLabel('送信状態').selectOption({ label: '送信準備' });
    await search(page);
    const ready = sorted([ids.gamma!, ids.delta!, ids.epsilon!, ids.zeta!]);
    expect(sorted(await shownRequestIds(page))).toEqual(ready);
    expect(page.url()).toContain('sendStatus=R');
    await page.reload();
    await expect(page.getByRole('search').getByLabel('送信状態').inputValue()).resolves.toBe('R');
    expect(sorted(await shownRequestIds(page))).toEqual(ready);
    await resetSearch(page);

    // request ID
    await bar.getByLabel('Request ID').fill(ids.bulk3!);
    await search(page);
    expect(await shownRequestIds(page)).toEqual([ids.bulk3]);
    await resetSearch(page);

    // recipient address
    await bar.getByLabel('受信者アドレス').fill('x2@sink.test');
    await search(page);
    expect(await shownRequestIds(page)).toEqual([ids.alpha]);
    await resetSearch(page);

    // sender address
    await bar.getByLabel('送信者アドレス').fill('beta@company.test');
    await search(page);
    expect(await shownRequestIds(page)).toEqual([ids.beta]);
    await resetSearch(page);

    // subject (partial)
    await bar.getByLabel('メールの件名').fill('reserved');
    await search(page);
    expect(sorted(await shownRequestIds(page))).toEqual(sorted([ids.gamma!, ids.delta!, ids.epsilon!, ids.zeta!]));
    await resetSearch(page);

    // template (a picker of the project's templates)
    await bar.getByLabel('テンプレート').selectOption({ label: 'news letter' });
    await search(page);
    expect(await shownRequestIds(page)).toEqual([ids.beta]);
    await resetSearch(page);

    // request tool
    await bar.getByLabel('送信リクエストツール').selectOption('CONSOLE');
    await search(page);
    expect(await shownRequestIds(page)).toEqual([consoleRequestId]);
    await bar.getByLabel('送信リクエストツール').selectOption('API');
    await search(page);
    expect(await shownRequestIds(page)).toHaveLength(TOTAL_REQUESTS() - 1);
    await resetSearch(page);

    // request date range: a past range finds nothing, a reversed one is refused
    await bar.getByLabel('開始日').fill('2020-01-01');
    await bar.getByLabel('終了日').fill('2020-01-31');
    await search(page);
    expect(await shownRequestIds(page)).toEqual([]);
    await table(page).getByText('データがありません。').waitFor();
    expect(page.url()).toContain('from=2020-01-01');
    // back returns to the previous search (no filter)
    await page.goBack();
    await expectNotBusy(page);
    expect(await shownRequestIds(page)).toHaveLength(TOTAL_REQUESTS());
    await bar.getByLabel('開始日').fill('2030-01-02');
    await bar.getByLabel('終了日').fill('2030-01-01');
    await bar.getByRole('button', { name: '検索', exact: true }).click();
    await expect(text(bar.getByRole('alert'))).resolves.toContain('開始日は終了日以前');

    // the same filters on the recipient tab
    await page.goto(c.url('/mails?tab=recipients&recipientAddress=x3%40sink.test'));
    await expectNotBusy(page);
    await expect(page.getByRole('search').getByLabel('受信者アドレス').inputValue()).resolves.toBe('x3@sink.test');
    const rows = table(page).locator('tbody tr[data-mail-id]');
    await expect(rows.count()).resolves.toBe(1);
    expect(await text(rows)).toContain('x3@sink.test');
    await page.context().close();
  });

  it('pages and sorts the request list', async () => {
    const page = await c.signedInPage('ja');
    await page.goto(c.url('/mails'));
    const first = await shownRequestIds(page);
    expect(first).toHaveLength(10);
    await page.getByText(`1 / 2 ページ`).waitFor();
    await page.getByRole('button', { name: '次へ' }).click();
    const second = await shownRequestIds(page);
    expect(second).toHaveLength(TOTAL_REQUESTS() - 10);
    expect(second.filter((id) => first.includes(id))).toEqual([]);
    expect(page.url()).toContain('page=1');
    await expect(page.getByRole('button', { name: '次へ' }).isDisabled()).resolves.toBe(true);
    await page.getByRole('button', { name: '前へ' }).click();
    expect(await shownRequestIds(page)).toEqual(first);

    // sort by 受信者数: ascending, then descending (alpha has 3 recipients, beta 2, the rest 1)
    const header = table(page).getByRole('columnheader', { name: /受信者数/ });
    await header.getByRole('button').click();
    await expectNotBusy(page);
    await expect(header.getAttribute('aria-sort')).resolves.toBe('ascending');
    expect(page.url()).toContain('sort=recipientCount%2Casc');
    expect(await shownRequestIds(page)).not.toContain(ids.alpha);
    await header.getByRole('button').click();
    await expect(header.getAttribute('aria-sort')).resolves.toBe('descending');
    expect((await shownRequestIds(page)).slice(0, 2)).toEqual([ids.alpha, ids.beta]);

    // page size
    await page.getByLabel('表示件数').selectOption('20');
    expect(await shownRequestIds(page)).toHaveLength(TOTAL_REQUESTS());
    await page.context().close();
  });

  it('opens the mail list of a request from 受信者数; the detail shows the content only in a sandboxed frame', async () => {
    const page = await c.signedInPage('ja');
    await page.goto(c.url('/mails?size=50'));
    await requestRow(page, ids.alpha!).getByRole('button', { name: /^3\b/ }).click();
    await page.waitForURL(`**/console/mails/requests/${ids.alpha}`);
    await page.getByRole('heading', { name: /メール別リスト/ }).waitFor();
    const rows = table(page).locator('tbody tr[data-mail-id]');
    await rows.first().waitFor();
    await expect(rows.count()).resolves.toBe(3);
    // the request itself, above its mails; finished: no action buttons
    const card = page.locator('.ml-request-card');
    const cardText = await text(card);
    for (const s of [ids.alpha!, 'alpha@company.test', 'Alpha Sender', '送信成功', 'Alpha report']) expect(cardText).toContain(s);
    await expect(card.getByRole('button').count()).resolves.toBe(0);
    await c.expectAccessible(page);
    await c.screenshot(page, 'mailing-list-mails-ja');
    // its own search bar: recipient address, then status
    const bar = page.getByRole('search');
    await bar.getByLabel('受信者アドレス').fill('x2@sink.test');
    await bar.getByRole('button', { name: '検索', exact: true }).click();
    await page.waitForURL(/recipientAddress=x2/);
    await expectNotBusy(page);
    await expect(rows.count()).resolves.toBe(1);
    expect(await text(rows.first())).toContain('x2@sink.test');
    await bar.getByRole('button', { name: 'リセット' }).click();
    await bar.getByLabel('送信状態').selectOption('C');
    await bar.getByRole('button', { name: '検索', exact: true }).click();
    await page.waitForURL(/sendStatus=C/);
    await expectNotBusy(page);
    await table(page).getByText('データがありません。').waitFor();
    await bar.getByRole('button', { name: 'リセット' }).click();
    await expectNotBusy(page);
    await expect(rows.count()).resolves.toBe(3);

    // the recipient x1's mail
    const x1 = rows.filter({ hasText: 'x1@sink.test' });
    await x1.getByRole('button', { name: /Mail ID/ }).click();
    const dialog = page.getByRole('dialog', { name: 'メールの詳細' });
    await dialog.getByRole('heading', { name: '送信メールの詳細' }).waitFor();
    const shown = await text(dialog);
    for (const s of [ids.alpha!, '受信情報', 'x1@sink.test', 'MAIL_SENT', '送信成功', 'Alpha report', 'report.txt', 'リクエストIP']) expect(shown).toContain(s);
    await expect(dialog.locator('iframe').count()).resolves.toBe(0);
    await dialog.getByRole('button', { name: '内容を見る' }).click();
    const frame = dialog.locator('iframe.mail-body');
    await expect(frame.getAttribute('sandbox')).resolves.toBe('');
    await expect(frame.getAttribute('srcdoc')).resolves.toContain('Hello alpha');
    await page.frameLocator('iframe.mail-body').getByText('Hello alpha').waitFor();
    await expect(page.frameLocator('iframe.mail-body').getByText('SCRIPT RAN').count()).resolves.toBe(0);
    await expect(page.frameLocator('iframe.mail-body').locator('body[data-ran]').count()).resolves.toBe(0);
    expect(await page.title()).not.toBe('pwned');
    // the body is never part of the console's own document
    await expect(page.locator('body > #root').getByText('Hello alpha').count()).resolves.toBe(0);
    await c.expectAccessible(page);
    await c.screenshot(page, 'mailing-list-detail-ja');

    // attachment download
    const [download] = await Promise.all([page.waitForEvent('download'), dialog.getByRole('link', { name: 'report.txt' }).click()]);
    expect(download.suggestedFilename()).toBe('report.txt');
    const path = await download.path();
    const fs = await import('node:fs');
    expect(fs.readFileSync(path!)).toEqual(ATTACHMENT);

    await dialog.getByRole('button', { name: '閉じる' }).click();
    await expect(dialog.count()).resolves.toBe(0);
    await page.getByRole('button', { name: /リクエスト別リストに戻る/ }).click();
    // back to the list as it was searched
    await page.waitForURL(/\/console\/mails\?size=50$/);
    await requestRow(page, ids.alpha!).waitFor();
    await page.context().close();
  });

  it('sends a reserved request now, after the confirm popup (cancelling the popup does nothing)', async () => {
    const page = await c.signedInPage('ja');
    await page.goto(c.url('/mails?sendStatus=R'));
    await expectNotBusy(page);
    await expect(table(page).getByRole('button', { name: '即時送信' }).count()).resolves.toBe(4);
    await expect(table(page).getByRole('button', { name: '送信をキャンセル' }).count()).resolves.toBe(4);
    // only ready requests have 即時送信; finished ones have neither button
    await page.goto(c.url('/mails?size=50'));
    await expectNotBusy(page);
    await expect(requestRow(page, ids.alpha!).getByRole('button', { name: '即時送信' }).count()).resolves.toBe(0);
    await expect(requestRow(page, ids.alpha!).getByRole('button', { name: '送信をキャンセル' }).count()).resolves.toBe(0);
    const row = requestRow(page, ids.gamma!);
    await row.getByRole('button', { name: '即時送信' }).click();
    let dialog = page.getByRole('dialog', { name: '即時送信' });
    await expect(text(dialog)).resolves.toContain(ids.gamma!);
    await c.expectAccessible(page);
    await dialog.getByRole('button', { name: 'キャンセル' }).click();
    await expect(dialog.count()).resolves.toBe(0);
    expect((await c.svc.call('GET', `/api/v1/mails/requests?requestId=${ids.gamma}`).expect(200)).body.content[0].emailStatus.code).toBe('R');

    await row.getByRole('button', { name: '即時送信' }).click();
    dialog = page.getByRole('dialog', { name: '即時送信' });
    await dialog.getByRole('button', { name: '確認' }).click();
    await page.getByRole('status').filter({ hasText: '即時送信を開始しました' }).waitFor();
    const done = await finishedRequestRow(c.svc, ids.gamma!);
    expect(done.emailStatus.code).toBe('S');
    expect(done.reservationStatus.code).toBe('S');
    await waitFor(async () => c.sink.messages.some((msg: { to: string[] }) => msg.to.includes('g1@sink.test')));
    await page.getByRole('button', { name: '更新' }).click();
    await requestRow(page, ids.gamma!).getByText('送信成功').waitFor();
    await expect(
      requestRow(page, ids.gamma!)
        .getByRole('button', { name: /即時送信|送信をキャンセル/ })
        .count(),
    ).resolves.toBe(0);
    await page.context().close();
  });

  it('cancels a reserved request after the confirm popup', async () => {
    const page = await c.signedInPage('ja');
    await page.goto(c.url('/mails?size=50'));
    await expectNotBusy(page);
    await requestRow(page, ids.delta!).getByRole('button', { name: '送信をキャンセル' }).click();
    const dialog = page.getByRole('dialog', { name: '送信をキャンセル' });
    await expect(text(dialog)).resolves.toContain(ids.delta!);
    await dialog.getByRole('button', { name: '確認' }).click();
    await page.getByRole('status').filter({ hasText: '送信をキャンセルしました' }).waitFor();
    await expect(text(requestRow(page, ids.delta!))).resolves.toContain('送信キャンセル');
    await expect(requestRow(page, ids.delta!).getByRole('button', { name: '送信をキャンセル' }).count()).resolves.toBe(0);
    expect((await c.svc.call('GET', `/api/v1/mails/requests?requestId=${ids.delta}`).expect(200)).body.content[0].emailStatus.code).toBe('C');
    await page.context().close();
  });

  it('cancels a reservation from the mail detail ([予約送信をキャンセル])', async () => {
    const page = await c.signedInPage('ja');
    await page.goto(c.url(`/mails/requests/${ids.epsilon}`));
    await table(page).locator('tbody tr[data-mail-id]').first().getByRole('button').click();
    const detail = page.getByRole('dialog', { name: 'メールの詳細' });
    await detail.getByRole('button', { name: '予約送信をキャンセル' }).click();
    const confirm = page.getByRole('dialog', { name: '予約送信をキャンセル' });
    await confirm.getByRole('button', { name: '確認' }).click();
    await detail.getByRole('status').filter({ hasText: '予約送信をキャンセルしました' }).waitFor();
    await expect(detail.getByRole('button', { name: '予約送信をキャンセル' }).count()).resolves.toBe(0);
    await expect(text(detail)).resolves.toContain('送信キャンセル');
    expect((await c.svc.call('GET', `/api/v1/mails/requests?requestId=${ids.epsilon}`).expect(200)).body.content[0].emailStatus.code).toBe('C');
    await page.context().close();
  });

  it('does not offer [即時送信] for a ready request made more than 30 days ago (it can still be cancelled)', async () => {
    const old = await send({
      senderAddress: 'old@company.test',
      title: 'Old confirm',
      body: '<p>old</p>',
      recipients: [{ address: 'o1@sink.test' }],
      confirmAndSend: true,
    });
    await c.svc.db.db
      .updateTable('mail_requests')
      .set({ created_at: new Date(Date.now() - 31 * DAY) })
      .where('id', '=', parseNumericId(old)!.seq.toString())
      .execute();
    const page = await c.signedInPage('ja');
    await page.goto(c.url(`/mails?from=2000-01-01&requestId=${old}`));
    const row = requestRow(page, old);
    await row.waitFor();
    const sendNow = row.getByRole('button', { name: '即時送信' });
    await expect(sendNow.isDisabled()).resolves.toBe(true);
    await expect(sendNow.getAttribute('title')).resolves.toContain('30日以前');
    await expect(row.getByRole('button', { name: '送信をキャンセル' }).isEnabled()).resolves.toBe(true);
    await page.context().close();
  });

  it('filters the recipient list by status, sender, subject, template and request tool', async () => {
    const page = await c.signedInPage('ja');
    await page.goto(c.url('/mails?tab=recipients&size=50'));
    await expectNotBusy(page);
    const bar = page.getByRole('search');
    const addresses = async () => {
      await expectNotBusy(page);
      return sorted(await table(page).locator('tbody tr[data-mail-id] td:nth-child(7)').allTextContents());
    };
    await bar.getByLabel('送信状態').selectOption('C');
    await search(page);
    expect(await addresses()).toEqual(['d1@sink.test', 'e1@sink.test']);
    await resetSearch(page);
    await bar.getByLabel('送信者アドレス').fill('reserve@company.test');
    await bar.getByLabel('メールの件名').fill('Gamma');
    await search(page);
    expect(await addresses()).toEqual(['g1@sink.test']);
    await resetSearch(page);
    await bar.getByLabel('テンプレート').selectOption({ label: 'news letter' });
    await search(page);
    expect(await addresses()).toEqual(['y1@sink.test', 'y2@sink.test']);
    await resetSearch(page);
    await bar.getByLabel('送信リクエストツール').selectOption('CONSOLE');
    await search(page);
    expect(await addresses()).toEqual(['c1@sink.test']);
    await page.context().close();
  });

  it('shows bounces and complaints in the recipient list and the mail detail, and filters by them', async () => {
    // What the inbound listener records (it is not on this branch), set directly.
    const at = new Date();
    await c.svc.db.db
      .updateTable('recipients')
      .set({ bounce_type: 'H', bounce_status: '5.1.1', bounce_message: 'smtp; 550 5.1.1 user unknown', bounced_at: at })
      .where('address', '=', 'x2@sink.test')
      .execute();
    await c.svc.db.db.updateTable('recipients').set({ complaint_type: 'abuse', complained_at: at }).where('address', '=', 'x3@sink.test').execute();
    const page = await c.signedInPage('ja');
    await page.goto(c.url('/mails?tab=recipients&size=50'));
    await expectNotBusy(page);
    await table(page).getByRole('columnheader', { name: 'バウンス/苦情' }).waitFor();
    await expect(text(table(page).locator('tr', { hasText: 'x2@sink.test' }))).resolves.toContain('ハードバウンス 5.1.1');
    await expect(text(table(page).locator('tr', { hasText: 'x3@sink.test' }))).resolves.toContain('苦情: abuse');
    await expect(text(table(page).locator('tr', { hasText: 'x1@sink.test' }))).resolves.not.toContain('バウンス');

    const bar = page.getByRole('search');
    const addresses = async () => {
      await expectNotBusy(page);
      return sorted(await table(page).locator('tbody tr[data-mail-id] td:nth-child(7)').allTextContents());
    };
    await bar.getByLabel('バウンス/苦情').selectOption('HARD');
    await search(page);
    expect(page.url()).toContain('feedback=HARD');
    expect(await addresses()).toEqual(['x2@sink.test']);
    await table(page).locator('tr', { hasText: 'x2@sink.test' }).getByRole('button').click();
    const dialog = page.getByRole('dialog', { name: 'メールの詳細' });
    await dialog.getByText('smtp; 550 5.1.1 user unknown').waitFor();
    await expect(text(dialog)).resolves.toContain('ハードバウンス 5.1.1');
    await c.expectAccessible(page);
    await c.screenshot(page, 'mailing-list-bounce-detail-ja');
    await page.keyboard.press('Escape');
    await expect(dialog.count()).resolves.toBe(0);

    await bar.getByLabel('バウンス/苦情').selectOption('COMPLAINED');
    await search(page);
    expect(await addresses()).toEqual(['x3@sink.test']);
    await page.reload();
    await expect(page.getByRole('search').getByLabel('バウンス/苦情').inputValue()).resolves.toBe('COMPLAINED');
    expect(await addresses()).toEqual(['x3@sink.test']);
    // the request tab reads the same filter: the request with such a recipient
    await page.getByRole('tab', { name: 'リクエスト別リスト' }).click();
    expect(await shownRequestIds(page)).toEqual([ids.alpha!]);
    await c.expectAccessible(page);
    await c.screenshot(page, 'mailing-list-complained-ja');
    await page.context().close();
  });

  it('shows the legends of the 8 statuses and the 28 result codes', async () => {
    const page = await c.signedInPage('ja');
    await page.goto(c.url('/mails'));
    await page.getByText('送信状態の説明').click();
    const statuses = page.getByRole('table', { name: '送信状態の説明' });
    await expect(statuses.locator('tbody tr').count()).resolves.toBe(8);
    const st = await text(statuses);
    for (const s of ['送信準備中', '送信準備', '送信中', '送信成功', '一部失敗', '送信失敗', '受信拒否', '送信キャンセル', '即時送信を行える'])
      expect(st).toContain(s);
    await page.getByText('送信結果コードの説明').click();
    const codes = page.getByRole('table', { name: '送信結果コードの説明' });
    await expect(codes.locator('tbody tr').count()).resolves.toBe(28);
    const ct = await text(codes);
    for (const s of ['CANCELED_MAIL', 'UNSUPPORTED_ENCODING_ADDRESS', '受信者アドレスエラーによる送信失敗', 'システムのテストメール送信'])
      expect(ct).toContain(s);
    await c.expectAccessible(page);
    await c.screenshot(page, 'mailing-list-legends-ja');
    await page.context().close();
  });

  it('exports the searched list to an .xlsx that downloads and opens', async () => {
    const page = await c.signedInPage('ja');
    await page.goto(c.url('/mails?tab=recipients&title=Alpha'));
    await expectNotBusy(page);
    const dialog = await openExportDialog(page);
    await dialog.getByRole('button', { name: 'ファイル作成をリクエスト' }).click();
    await dialog.getByRole('status').filter({ hasText: 'ファイル作成をリクエストしました' }).waitFor();
    const link = dialog.getByRole('link', { name: /ダウンロード/ });
    await link.first().waitFor({ timeout: 30_000 });
    const shown = await text(dialog);
    expect(shown).toContain('受信者別リスト');
    expect(shown).toContain('完了');
    expect(shown).toContain('メールの件名: Alpha'); // the search the file was made for
    await c.expectAccessible(page);
    await c.screenshot(page, 'mailing-list-export-ja');
    const rows = (await downloadedSheets(page, link.first()))[0]!;
    expect(rows).toHaveLength(1 + 3); // header + the three recipients of "Alpha report"
    expect(rows.slice(1).flat().join(' ')).toContain('x2@sink.test');
    const exportRow = (await c.svc.call('GET', '/api/v1/exports').expect(200)).body.content[0];
    expect(exportRow.view).toBe('recipients');
    expect(exportRow.filters.title).toBe('Alpha');
    await dialog.getByRole('button', { name: '確認' }).click();
    await expect(dialog.count()).resolves.toBe(0);
    await page.context().close();
  });

  it('exports the mail list of a request', async () => {
    const page = await c.signedInPage('ja');
    await page.goto(c.url(`/mails/requests/${ids.beta}`));
    await table(page).locator('tbody tr[data-mail-id]').first().waitFor();
    const dialog = await openExportDialog(page);
    await dialog.locator('tbody tr').first().waitFor(); // the list has loaded (a file, or "none")
    const before = await dialog.locator('tbody tr[data-export-id]').count();
    await dialog.getByRole('button', { name: 'ファイル作成をリクエスト' }).click();
    await waitFor(async () => (await dialog.locator('tbody tr[data-export-id]').count()) > before);
    const row = dialog.locator('tbody tr[data-export-id]').first();
    expect(await text(row)).toContain('メール別リスト');
    expect(await text(row)).toContain(`Request ID: ${ids.beta}`);
    const link = row.getByRole('link', { name: /ダウンロード/ });
    await link.waitFor({ timeout: 30_000 });
    expect((await downloadedSheets(page, link))[0]).toHaveLength(1 + 2);
    const exportRow = (await c.svc.call('GET', '/api/v1/exports').expect(200)).body.content[0];
    expect(exportRow).toMatchObject({ view: 'mails', filters: { requestId: ids.beta } });
    await page.context().close();
  });

  it('works with the keyboard alone: tabs, search, the mail list, a mail and its content, cancelling a request through the confirm popup', async () => {
    const page = await c.signedInPage('ja');
    await page.goto(c.url('/mails'));
    await expectNotBusy(page);
    const tabUntil = async (check: () => Promise<boolean>, what: string) => {
      for (let i = 0; i < 150; i++) {
        await page.keyboard.press('Tab');
        if (await check()) return;
      }
      throw new Error(`Tab never reached ${what}`);
    };
    // (strings: the test's tsconfig has no DOM types)
    const focused = (expr: string) => page.evaluate<string>(`(() => { const el = document.activeElement; return String(${expr} ?? ''); })()`);
    const focusedLabel = () => focused("el?.closest('label')?.textContent");
    const focusedText = () => focused('el?.textContent');
    // tabs: arrow keys move between them
    await tabUntil(async () => (await focused("el?.getAttribute('role')")) === 'tab', 'the tabs');
    await page.keyboard.press('ArrowRight');
    await page.waitForURL(/tab=recipients/);
    await page.keyboard.press('ArrowLeft');
    await page.waitForURL((u: URL) => !u.search.includes('tab=recipients'));
    await tabUntil(async () => (await focusedLabel()).startsWith('メールの件名'), 'the subject field');
    await page.keyboard.type('Alpha');
    await page.keyboard.press('Enter');
    await page.waitForURL(/title=Alpha/);
    expect(await shownRequestIds(page)).toEqual([ids.alpha]);
    await tabUntil(async () => /^3\b/.test(await focused("el?.getAttribute('aria-label')")), 'the recipient count');
    await page.keyboard.press('Enter');
    await page.waitForURL(`**/mails/requests/${ids.alpha}`);
    await table(page).locator('tbody tr[data-mail-id]').first().waitFor();
    await tabUntil(async () => /^\d{20}$/.test((await focusedText()).trim()), 'a Mail ID');
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'メールの詳細' });
    await dialog.getByRole('heading', { name: '送信メールの詳細' }).waitFor();
    await tabUntil(async () => (await focusedText()) === '内容を見る', 'the view-content button');
    await page.keyboard.press('Enter');
    await dialog.locator('iframe.mail-body').waitFor();
    await page.keyboard.press('Escape');
    await expect(dialog.count()).resolves.toBe(0);

    // cancel a reserved request: the confirm popup opens on [キャンセル], [確認] is one Shift+Tab away
    await page.goto(c.url(`/mails?requestId=${ids.zeta}`));
    await expectNotBusy(page);
    await tabUntil(async () => (await focusedText()) === '送信をキャンセル', 'the cancel button');
    await page.keyboard.press('Enter');
    const confirm = page.getByRole('dialog', { name: '送信をキャンセル' });
    await confirm.waitFor();
    expect(await focusedText()).toBe('キャンセル');
    await page.keyboard.press('Shift+Tab');
    expect(await focusedText()).toBe('確認');
    await page.keyboard.press('Enter');
    await page.getByRole('status').filter({ hasText: '送信をキャンセルしました' }).waitFor();
    expect((await c.svc.call('GET', `/api/v1/mails/requests?requestId=${ids.zeta}`).expect(200)).body.content[0].emailStatus.code).toBe('C');
    await page.context().close();
  });

  it('[送信する] opens the send screen', async () => {
    const page = await c.signedInPage('ja');
    await page.goto(c.url('/mails'));
    await page.getByRole('button', { name: '送信する', exact: true }).click();
    await page.waitForURL(/\/console\/send$/);
    await page.getByRole('heading', { level: 1, name: 'メール送信' }).waitFor();
    await page.context().close();
  });

  it('sorts the recipient list by 送信状態: the rows come grouped by status, ascending then descending', async () => {
    const page = await c.signedInPage('ja');
    await page.goto(c.url('/mails?tab=recipients&size=50'));
    // by request date (the default), sent and unsent mails are mixed
    const before = await shownRecipientStatuses(page);
    expect(new Set(before).size).toBeGreaterThan(1);
    expect(before).not.toEqual(sorted(before));
    const header = table(page).getByRole('columnheader', { name: '送信状態' });
    await header.getByRole('button').click();
    await page.waitForURL(/sort=statusCode%2Casc/);
    await expect(header.getAttribute('aria-sort')).resolves.toBe('ascending');
    const asc = await shownRecipientStatuses(page);
    expect(asc).toEqual(sorted(before));
    await header.getByRole('button').click();
    await page.waitForURL(/sort=statusCode%2Cdesc/);
    await expect(header.getAttribute('aria-sort')).resolves.toBe('descending');
    expect(await shownRecipientStatuses(page)).toEqual(sorted(before).reverse());
    await page.context().close();
  });

  it('exports the request list (リクエスト別リスト) to an .xlsx that opens; the file list shows its expiry, a week on', async () => {
    const page = await c.signedInPage('ja');
    await page.goto(c.url('/mails?title=Alpha'));
    await expectNotBusy(page);
    const dialog = await openExportDialog(page);
    await dialog.locator('tbody tr').first().waitFor();
    const before = await dialog.locator('tbody tr[data-export-id]').count();
    await dialog.getByRole('button', { name: 'ファイル作成をリクエスト' }).click();
    await waitFor(async () => (await dialog.locator('tbody tr[data-export-id]').count()) > before);
    const row = dialog.locator('tbody tr[data-export-id]').first();
    const link = row.getByRole('link', { name: /ダウンロード/ });
    await link.waitFor({ timeout: 30_000 });
    expect(await text(row)).toContain('リクエスト別リスト');
    expect(await text(row)).toContain('メールの件名: Alpha');
    const exportRow = (await c.svc.call('GET', '/api/v1/exports').expect(200)).body.content[0];
    expect(exportRow).toMatchObject({ view: 'requests', filters: { title: 'Alpha' } });
    // the expiry column: the file's expiry, one week after it was made
    const week = exportRow.expireDate.utc - exportRow.requestDate.utc;
    expect(week).toBeGreaterThanOrEqual(7 * DAY);
    expect(week).toBeLessThan(7 * DAY + 60_000);
    const expireIndex = await dialog.locator('thead th').evaluateAll((ths) => ths.findIndex((th) => th.textContent?.trim() === '有効期限'));
    expect(expireIndex).toBeGreaterThan(-1);
    expect(await text(row.locator('td').nth(expireIndex))).toBe(exportRow.expireDate.formattedDateTime.slice(0, 19));
    await c.screenshot(page, 'mailing-list-export-requests-ja');
    const rows = (await downloadedSheets(page, link))[0]!;
    expect(rows).toHaveLength(1 + 1); // header + the request "Alpha report"
    expect(rows.slice(1).flat().join(' ')).toContain(ids.alpha!);
    await page.context().close();
  });

  it.each([
    ['P', '送信準備中'],
    ['I', '送信中'],
  ] as const)('cancels a request in status %s (%s) from its row, after the confirm popup', async (status, label) => {
    // A request held in the status: reserved (so no worker takes it), its status set directly.
    const id = await reserved(`Held ${status}`, `held-${status.toLowerCase()}@sink.test`);
    await c.svc.db.db.updateTable('mail_requests').set({ status }).where('id', '=', parseNumericId(id)!.seq.toString()).execute();
    const page = await c.signedInPage('ja');
    await page.goto(c.url(`/mails?requestId=${id}`));
    const row = requestRow(page, id);
    await row.locator(`[data-code="${status}"]`).filter({ hasText: label }).waitFor();
    await expect(row.getByRole('button', { name: '即時送信' }).count()).resolves.toBe(0);
    await row.getByRole('button', { name: '送信をキャンセル' }).click();
    const dialog = page.getByRole('dialog', { name: '送信をキャンセル' });
    await expect(text(dialog)).resolves.toContain(id);
    await dialog.getByRole('button', { name: '確認' }).click();
    await page.getByRole('status').filter({ hasText: '送信をキャンセルしました' }).waitFor();
    await waitFor(async () => (await c.svc.call('GET', `/api/v1/mails/requests?requestId=${id}`).expect(200)).body.content[0].emailStatus.code === 'C');
    await page.context().close();
  });
});

const LANGS = {
  ko: {
    tabs: ['요청별 목록', '수신자별 목록'],
    columns: ['발송자 주소', '요청 일시', '발송 상태', '수신자 수', '발송 요청 도구'],
    success: '발송성공',
    statusLegend: '발송 상태 설명',
    codeLegend: '발송 결과 코드 설명',
    codeText: '수신자 주소 오류로 발송 실패했습니다.',
    detail: '메일 상세',
    viewContent: '내용 보기',
    exportOpen: '다운로드 요청/목록',
    exportTitle: '엑셀 다운로드 목록',
    mailList: '메일별 목록',
  },
  en: {
    tabs: ['By request', 'By recipient'],
    columns: ['Sender address', 'Requested', 'Status', 'Recipients', 'Request tool'],
    success: 'Sent successfully',
    statusLegend: 'Send statuses',
    codeLegend: 'Send result codes',
    codeText: 'Failed: recipient address error.',
    detail: 'Mail details',
    viewContent: 'View content',
    exportOpen: 'Download request/list',
    exportTitle: 'Excel downloads',
    mailList: 'Mails of the request',
  },
} as const;

describe.each(Object.entries(LANGS))('Mailing list (%s)', (lang, tx) => {
  it('renders both tabs, the mail detail, the legends and the export popup, accessibly', async () => {
    const page = await c.signedInPage(lang as 'ko' | 'en');
    await page.goto(c.url('/mails?size=50'));
    await expectNotBusy(page);
    for (const h of tx.columns) await expect(table(page).getByRole('columnheader', { name: h, exact: false }).count()).resolves.toBeGreaterThan(0);
    await expect(text(requestRow(page, ids.alpha!))).resolves.toContain(tx.success);
    await page.getByText(tx.statusLegend).click();
    await expect(page.getByRole('table', { name: tx.statusLegend }).locator('tbody tr').count()).resolves.toBe(8);
    await page.getByText(tx.codeLegend).click();
    await expect(text(page.getByRole('table', { name: tx.codeLegend }))).resolves.toContain(tx.codeText);
    await c.expectAccessible(page);
    await c.screenshot(page, `mailing-list-requests-${lang}`);

    await page.getByRole('tab', { name: tx.tabs[1] }).click();
    await expectNotBusy(page);
    await expect(page.getByRole('tab', { name: tx.tabs[1] }).getAttribute('aria-selected')).resolves.toBe('true');
    await table(page).locator('tr', { hasText: 'x1@sink.test' }).getByRole('button').click();
    const dialog = page.getByRole('dialog', { name: tx.detail });
    await dialog.getByRole('button', { name: tx.viewContent }).click();
    await page.frameLocator('iframe.mail-body').getByText('Hello alpha').waitFor();
    await c.expectAccessible(page);
    await c.screenshot(page, `mailing-list-detail-${lang}`);
    await page.keyboard.press('Escape');
    await c.screenshot(page, `mailing-list-recipients-${lang}`);

    await page.getByRole('button', { name: tx.exportOpen }).click();
    await page.getByRole('dialog', { name: tx.exportTitle }).waitFor();
    await c.expectAccessible(page);
    await c.screenshot(page, `mailing-list-export-${lang}`);
    await page.context().close();
  });

  it('opens the mail list of a request from its recipient count (受信者数), accessibly', async () => {
    const page = await c.signedInPage(lang as 'ko' | 'en');
    await page.goto(c.url('/mails?size=50'));
    await requestRow(page, ids.alpha!).getByRole('button', { name: /^3\b/ }).click();
    await page.waitForURL(`**/console/mails/requests/${ids.alpha}`);
    await page.getByRole('heading', { name: new RegExp(tx.mailList) }).waitFor();
    await table(page).locator('tbody tr[data-mail-id]').first().waitFor();
    await expect(table(page).locator('tbody tr[data-mail-id]').count()).resolves.toBe(3);
    await c.expectAccessible(page, `mail list of a request ${lang}`);
    await c.screenshot(page, `mailing-list-mails-${lang}`);
    await page.context().close();
  });
});
