import { describe, expect, test } from '@jest/globals';
import { simpleParser, type ParsedMail } from 'mailparser';
import type { Locator, Page } from 'playwright-core';
import { waitFor } from '../helpers/test-service.ts';
import { dropFile, type Lang, LANGS, useConsole } from './helpers/console.ts';

// The send screen (console/src/screens/send), driven as a user would, end to end: the service,
// its database and the SMTP sink are real; mails are read back from the sink.

const c = useConsole({ resetSinkAfterEach: true });

const TITLE = { ja: 'メール送信', ko: '메일 발송', en: 'Send mail' } as const;
const LABELS = {
  ja: {
    senderName: '送信者名',
    senderAddress: '送信者メールアドレス',
    subject: 'メールの件名',
    body: 'メール本文',
    recipients: '受信者',
    send: '送信',
    tagDialog: '置換タグの入力',
  },
  ko: {
    senderName: '발송자 이름',
    senderAddress: '발송자 메일 주소',
    subject: '메일 제목',
    body: '메일 본문',
    recipients: '수신자',
    send: '발송',
    tagDialog: '치환 태그 입력',
  },
  en: {
    senderName: 'Sender name',
    senderAddress: 'Sender address',
    subject: 'Subject',
    body: 'Body',
    recipients: 'Recipients',
    send: 'Send',
    tagDialog: 'Tag values',
  },
} as const;

async function openSend(lang: Lang = 'ja'): Promise<Page> {
  const page = await c.signedInPage(lang);
  await page.goto(c.url('/send'));
  await page.getByRole('heading', { level: 1, name: TITLE[lang] }).waitFor();
  return page;
}

const field = (page: Page, label: string) => page.getByLabel(label, { exact: true });
const button = (scope: Page | Locator, name: string) => scope.getByRole('button', { name, exact: true });

async function fillBasics(page: Page, o: { title: string; body: string; senderName?: string; lang?: Lang }) {
  const l = LABELS[o.lang ?? 'ja'];
  await field(page, l.senderName).fill(o.senderName ?? '管理者');
  await field(page, l.senderAddress).fill('no_reply@company.com');
  await field(page, l.subject).fill(o.title);
  await page.getByRole('textbox', { name: l.body }).click();
  await page.keyboard.type(o.body);
}

/** Types addresses into an address field, each ended with Enter. */
async function addAddresses(page: Page, label: string, addresses: string[]) {
  const input = field(page, label);
  for (const a of addresses) {
    await input.fill(a);
    await input.press('Enter');
  }
}

/** The Request ID of the success message. */
async function sentRequestId(page: Page): Promise<string> {
  const status = page.locator('.send-done');
  await status.waitFor();
  const text = (await status.textContent()) ?? '';
  const id = /Request ID (\d{20})/.exec(text)?.[1];
  if (!id) throw new Error(`no request id in "${text}"`);
  return id;
}

async function requestRow(requestId: string) {
  const res = await c.svc.call('GET', `/api/v1/mails/requests?requestId=${requestId}`);
  expect(res.status).toBe(200);
  return res.body.content[0];
}

async function requestCount(): Promise<number> {
  return (await c.svc.call('GET', '/api/v1/mails/requests?size=1')).body.totalElements as number;
}

async function parsedMails(n: number): Promise<ParsedMail[]> {
  const received = await c.sink.waitForMessages(n, 20_000);
  return Promise.all(received.map((m) => simpleParser(m.raw)));
}

/** Answers the tag popup: each tag's value, then [確認]. */
async function answerTags(page: Page, values: Record<string, string>) {
  const dialog = page.getByRole('dialog', { name: '置換タグの入力' });
  await dialog.waitFor();
  for (const [tag, value] of Object.entries(values)) await dialog.getByLabel(`\${${tag}} の値`).fill(value);
  await button(dialog, '確認').click();
  await dialog.waitFor({ state: 'detached' });
}

/** Opens the n-th [大量入力] (0 To, 1 Cc, 2 Bcc in general mode) and adds `count` addresses <prefix><i>@example.com. */
async function addLimited(page: Page, nth: number, dialogName: string, count: number, prefix: string) {
  await page.getByRole('button', { name: '大量入力' }).nth(nth).click();
  const dialog = page.getByRole('dialog', { name: dialogName });
  await dialog.getByLabel('アドレス').fill(Array.from({ length: count }, (_, i) => `${prefix}${i}@example.com`).join(' '));
  await button(dialog, '追加').click();
}

/** Address-book groups, created through the API: { groupName: addresses }. */
async function addGroups(groups: Record<string, string[]>) {
  const res = await c.svc.call('POST', '/api/v1/address-book', {
    body: { groups: Object.entries(groups).map(([groupName, emailAddresses]) => ({ groupName, emailAddresses })) },
  });
  expect(res.status).toBe(201);
}

/** Group-combination mode: ticks the groups (by their checkbox label) and picks AND or OR. */
async function chooseGroups(page: Page, labels: string[], combination: 'AND' | 'OR') {
  await page.getByRole('radio', { name: 'グループ組み合わせ大量メール送信' }).check();
  for (const label of labels) await page.getByRole('checkbox', { name: label }).check();
  await page.getByRole('radio', { name: new RegExp(`^${combination}:`) }).check();
}

async function uploadsDone(page: Page) {
  await waitFor(async () => (await page.getByText('アップロード中…').count()) === 0, 15_000, 'uploads to finish');
}

describe('send screen: rendering in ja, ko and en', () => {
  test.each(LANGS)('%s: every section labelled, axe passes (general and advertising), screenshot', async (lang) => {
    const page = await openSend(lang);
    const l = LABELS[lang];
    for (const label of [l.senderName, l.senderAddress, l.subject]) await field(page, label).waitFor();
    await page.getByRole('textbox', { name: l.body }).waitFor();
    await field(page, l.recipients).waitFor();
    await button(page, l.send).waitFor();
    expect(await page.evaluate(() => document.documentElement.lang)).toBe(lang);
    await c.expectAccessible(page, `send ${lang}`);
    await c.screenshot(page, `send-${lang}`);
    // advertising: the notice and the title preview are accessible too
    const ad = { ja: '広告メール', ko: '광고 메일', en: 'Advertising mail' }[lang];
    await page.getByRole('radio', { name: ad }).check();
    await page.getByTestId('ad-title-preview').waitFor();
    await c.expectAccessible(page, `send ${lang} advertising`);
    await c.screenshot(page, `send-${lang}-advertising`);
  });
});

describe('send screen: sending', () => {
  test('a full send (ja): ${NAME} tag and a dropped attachment → the mail arrives with the tag replaced and the file; the request is CONSOLE', async () => {
    const page = await openSend('ja');
    await fillBasics(page, { title: 'ご案内 ${NAME}', body: '${NAME}様、こんにちは。' });
    await dropFile(page, 'note.txt', 'hello attachment');
    await page.getByText('note.txt').waitFor();
    await uploadsDone(page);
    await addAddresses(page, '受信者', ['kim@example.com']);
    await c.screenshot(page, 'send-ja-filled');
    await button(page, '送信').click();

    // the tag popup: [確認] stays disabled until the tag has a value
    const dialog = page.getByRole('dialog', { name: '置換タグの入力' });
    await dialog.waitFor();
    await c.expectAccessible(page, 'tag popup');
    await c.screenshot(page, 'send-ja-tag-popup');
    expect(await button(dialog, '確認').isDisabled()).toBe(true);
    await answerTags(page, { NAME: 'キム' });

    const requestId = await sentRequestId(page);
    const [mail] = await parsedMails(1);
    expect(mail!.subject).toBe('ご案内 キム');
    expect(mail!.html).toContain('キム様、こんにちは。');
    expect(mail!.from?.value[0]).toEqual({ address: 'no_reply@company.com', name: '管理者' });
    expect(mail!.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([['note.txt', 'hello attachment']]);
    const row = await waitFor(async () => {
      const r = await requestRow(requestId);
      return r?.emailStatus.code === 'S' ? r : undefined;
    });
    expect(row).toMatchObject({ dispatchType: 'CONSOLE', senderName: '管理者', title: 'ご案内 ${NAME}' });
    // the success message links to the mailing list
    expect(await page.getByRole('link', { name: 'メール送信リストで確認' }).getAttribute('href')).toContain(requestId);
  });

  test('the tag popup blocks sending until every tag of subject and body has a value', async () => {
    const page = await openSend('ja');
    await fillBasics(page, { title: '${A} のお知らせ', body: '本文 ${B} と ${A}' });
    await addAddresses(page, '受信者', ['tags@example.com']);
    const before = await requestCount();
    await button(page, '送信').click();
    const dialog = page.getByRole('dialog', { name: '置換タグの入力' });
    await dialog.waitFor();
    // both tags collected, each once
    expect(await dialog.getByRole('textbox').count()).toBe(2);
    const confirm = button(dialog, '確認');
    await dialog.getByLabel('${A} の値').fill('1');
    expect(await confirm.isDisabled()).toBe(true);
    await dialog.getByText('未入力のタグ: 1 件').waitFor();
    await dialog.getByLabel('${B} の値').fill('   ');
    expect(await confirm.isDisabled()).toBe(true);
    // Enter does not get around it
    await dialog.getByLabel('${B} の値').press('Enter');
    expect(await dialog.isVisible()).toBe(true);
    // cancelled: nothing was sent
    await button(dialog, 'キャンセル').click();
    expect(await requestCount()).toBe(before);
    expect(c.sink.messages).toHaveLength(0);
    // again, with every value: sent with both
    await button(page, '送信').click();
    await answerTags(page, { A: '第1回', B: '詳細' });
    await sentRequestId(page);
    const [mail] = await parsedMails(1);
    expect(mail!.subject).toBe('第1回 のお知らせ');
    expect(mail!.html).toContain('本文 詳細 と 第1回');
  });

  test.each(LANGS)('%s: keyboard only: fill in, add the recipient, send and answer the tag popup without the mouse', async (lang) => {
    const page = await openSend(lang);
    const l = LABELS[lang];
    /** Presses Tab until the element has the focus (at most 80 times). */
    const tabTo = async (target: Locator) => {
      for (let i = 0; i < 80; i++) {
        if (await target.evaluate((el) => el === document.activeElement)) return;
        await page.keyboard.press('Tab');
      }
      throw new Error('not reachable with Tab');
    };
    await tabTo(field(page, l.senderAddress));
    await page.keyboard.type('keys@company.com');
    await tabTo(field(page, l.subject));
    await page.keyboard.type('Keyboard ${WHO}');
    await tabTo(page.getByRole('textbox', { name: l.body }));
    await page.keyboard.type('Typed without a mouse.');
    await tabTo(field(page, l.recipients));
    await page.keyboard.type('kb@example.com');
    await page.keyboard.press('Enter');
    await page.getByText('kb@example.com').waitFor();
    await tabTo(button(page, l.send));
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: l.tagDialog });
    await dialog.waitFor();
    // the popup's field has the focus
    await page.keyboard.type('me');
    await page.keyboard.press('Enter');
    await sentRequestId(page);
    const [mail] = await parsedMails(1);
    expect(mail!.subject).toBe('Keyboard me');
    expect(mail!.html).toContain('Typed without a mouse.');
  });

  test('send after confirmation: the request waits as ready (R, W) until sent now', async () => {
    const page = await openSend('ja');
    await fillBasics(page, { title: '確認待ち', body: '確認後に送ります' });
    await addAddresses(page, '受信者', ['confirm@example.com']);
    await button(page, '確認後に送信').click();
    const requestId = await sentRequestId(page);
    await page.getByText('送信準備状態で保存しました').waitFor();
    const row = await requestRow(requestId);
    expect(row).toMatchObject({ emailStatus: { code: 'R' }, reservationStatus: { code: 'W' }, dispatchType: 'CONSOLE' });
    expect(c.sink.messages).toHaveLength(0);
  });

  test('reservation: a time ≤ 30 days ahead is reserved; more than 30 days is refused next to the field', async () => {
    const page = await openSend('ja');
    await fillBasics(page, { title: '予約', body: '予約送信' });
    await addAddresses(page, '受信者', ['later@example.com']);
    await page.getByRole('checkbox', { name: '予約送信する' }).check();
    const at = field(page, '送信日時');
    const local = (days: number) =>
      page.evaluate((d) => {
        const t = new Date(Date.now() + d * 86_400_000);
        const p = (n: number) => String(n).padStart(2, '0');
        return `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())}T${p(t.getHours())}:${p(t.getMinutes())}`;
      }, days);
    const before = await requestCount();
    await at.fill(await local(31));
    await button(page, '送信').click();
    await page.getByText('送信日時は 30 日後までです。').waitFor();
    expect(await at.getAttribute('aria-invalid')).toBe('true');
    expect(await requestCount()).toBe(before);

    const twoDays = await local(2);
    await at.fill(twoDays);
    await button(page, '送信').click();
    const requestId = await sentRequestId(page);
    const row = await requestRow(requestId);
    expect(row.emailStatus.code).toBe('R');
    expect(row.reservationStatus.code).toBe('Y');
    const expected = await page.evaluate((v) => new Date(v).getTime(), twoDays);
    expect(row.reservationDate.utc).toBe(expected);
  });

  test('a test send goes to the one address typed and is recorded as TEST_MAIL_SEND', async () => {
    const page = await openSend('ja');
    await fillBasics(page, { title: 'テスト ${N}', body: 'テスト本文 ${N}' });
    await button(page, 'テスト送信').click();
    const dialog = page.getByRole('dialog', { name: 'テスト送信' });
    await dialog.getByLabel('テストメールを受け取るアドレス').fill('tester@example.com');
    await c.expectAccessible(page, 'test send dialog');
    await button(dialog, 'テスト送信').click();
    await answerTags(page, { N: '1' });
    const requestId = await sentRequestId(page);
    await page.getByText('テストメールを tester@example.com に送信しました').waitFor();
    const [mail] = await parsedMails(1);
    expect(mail!.subject).toBe('テスト 1');
    const recipient = await waitFor(async () => {
      const rows = (await c.svc.call('GET', `/api/v1/mails/recipients?requestId=${requestId}`)).body.content;
      return rows?.[0]?.sendResultCode ? rows[0] : undefined;
    });
    expect(recipient).toMatchObject({ address: 'tester@example.com', sendResultCode: 'TEST_MAIL_SEND' });
  });

  test('an API error appears next to the field it names (senderName over 69 bytes)', async () => {
    const page = await openSend('ja');
    await fillBasics(page, { title: '長い名前', body: '本文', senderName: 'あ'.repeat(24) });
    await addAddresses(page, '受信者', ['err@example.com']);
    await button(page, '送信').click();
    const input = field(page, '送信者名');
    await waitFor(async () => (await input.getAttribute('aria-invalid')) === 'true', 10_000, 'the error on senderName');
    const describedBy = (await input.getAttribute('aria-describedby'))!;
    const message = await page.locator(`[id="${describedBy}"]`).textContent();
    // the API's message (in the console's language), naming the field
    expect(message).toMatch(/^senderName: .*69/);
    // shown with the field itself, not elsewhere
    expect(await page.locator('.send-field', { has: input }).locator('.field-error').textContent()).toBe(message);
    // the focus went to the field
    expect(await input.evaluate((el) => el === document.activeElement)).toBe(true);
    await c.screenshot(page, 'send-ja-api-error');
  });
});

describe('send screen: bulk modes', () => {
  test('individual: bulk entry split on Tab, space, Enter and ";"; at most 1,000 addresses', async () => {
    const page = await openSend('ja');
    await fillBasics(page, { title: '個別', body: '個別送信' });
    await button(page, '大量入力').click();
    let dialog = page.getByRole('dialog', { name: '受信者の大量入力' });
    await dialog.getByLabel('アドレス').fill('i1@example.com;i2@example.com\ti3@example.com i4@example.com\ni5@example.com');
    await c.expectAccessible(page, 'bulk-entry dialog');
    await c.screenshot(page, 'send-ja-bulk-entry');
    await button(dialog, '追加').click();
    const chips = page.locator('.send-chips li');
    await waitFor(async () => (await chips.count()) === 5, 5_000, '5 addresses');
    await button(page, '送信').click();
    await sentRequestId(page);
    await page.getByText('5 通').waitFor();
    const mails = await parsedMails(5);
    expect(mails.map((m) => (m.to && 'value' in m.to ? m.to.value.map((v) => v.address) : [])).sort()).toEqual([
      ['i1@example.com'],
      ['i2@example.com'],
      ['i3@example.com'],
      ['i4@example.com'],
      ['i5@example.com'],
    ]);

    // the limit: 1,001 addresses typed, 1,000 kept (5 already there), the rest reported
    await button(page, 'すべて削除').click();
    await button(page, '大量入力').click();
    dialog = page.getByRole('dialog', { name: '受信者の大量入力' });
    await dialog.getByLabel('アドレス').fill(Array.from({ length: 1001 }, (_, i) => `n${i}@example.com`).join(';'));
    await button(dialog, '追加').click();
    await page.getByText('受信者は最大 1,000 個まで入力できます。1 個は追加されませんでした。').waitFor();
    expect(await chips.count()).toBe(1000);
  });

  test('general: To, Cc and Bcc in one visible mail; Cc and Bcc at most 30 each; not with advertising', async () => {
    const page = await openSend('ja');
    await fillBasics(page, { title: '一般', body: '一般送信' });
    await page.getByRole('radio', { name: '一般', exact: true }).check();
    await addAddresses(page, '受信者 (To)', ['to1@example.com', 'to2@example.com']);
    await addAddresses(page, 'Cc', ['cc1@example.com']);
    await addAddresses(page, 'Bcc', ['bcc1@example.com']);
    await button(page, '送信').click();
    const requestId = await sentRequestId(page);
    const [mail] = await parsedMails(1);
    const addrs = (a: ParsedMail['to']) => (a && 'value' in a ? a.value.map((v) => v.address) : []);
    expect(addrs(mail!.to)).toEqual(['to1@example.com', 'to2@example.com']);
    expect(addrs(mail!.cc)).toEqual(['cc1@example.com']);
    expect(mail!.bcc).toBeUndefined();
    expect(c.sink.messages[0]!.to.sort()).toEqual(['bcc1@example.com', 'cc1@example.com', 'to1@example.com', 'to2@example.com']);
    expect((await requestRow(requestId)).requestCount).toBe(1);

    // Cc takes 30
    await addLimited(page, 1, 'Ccの大量入力', 31, 'c');
    await page.getByText('Ccは最大 30 個まで入力できます。2 個は追加されませんでした。').waitFor();
    // and so does Bcc (bcc1 is still there: 29 of the 31 fit)
    await addLimited(page, 2, 'Bccの大量入力', 31, 'b');
    await page.getByText('Bccは最大 30 個まで入力できます。2 個は追加されませんでした。').waitFor();

    // advertising mail can't be general: the mode falls back to individual and is disabled
    await page.getByRole('radio', { name: '広告メール' }).check();
    expect(await page.getByRole('radio', { name: '一般', exact: true }).isDisabled()).toBe(true);
    expect(await page.getByRole('radio', { name: '個別送信' }).isChecked()).toBe(true);
  });

  test('file upload: form with the tags, file chosen, row errors shown, each row gets its values', async () => {
    const page = await openSend('ja');
    await fillBasics(page, { title: '${NAME}さんへ', body: 'クーポン ${COUPON}' });
    await page.getByRole('radio', { name: 'ファイルアップロードによる大量メール送信' }).check();
    const form = page.getByRole('link', { name: '大量受信者送信用の入力様式をダウンロード' });
    expect(await form.getAttribute('href')).toBe('/api/v1/recipient-files/form?tags=NAME&tags=COUPON');
    const [download] = await Promise.all([page.waitForEvent('download'), form.click()]);
    expect(download.suggestedFilename()).toBe('recipients.xlsx');

    const csv = 'address,name,NAME,COUPON\r\nf1@example.com,F1,一郎,C-1\r\nnot-an-address,X,二郎,C-2\r\nf2@example.com,F2,三郎,C-3\r\n';
    await page.getByTestId('recipient-file-input').setInputFiles({ name: 'list.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.getByText('list.csv: 3 行中 2 行を送信します。').waitFor();
    const errors = page.getByRole('table', { name: /エラーのある行/ });
    await errors.getByRole('cell', { name: '3', exact: true }).waitFor();
    expect(await errors.getByRole('row').count()).toBe(2);
    await c.expectAccessible(page, 'file mode with row errors');
    await c.screenshot(page, 'send-ja-file-mode');

    // every tag comes from the file: no popup
    await button(page, '送信').click();
    await sentRequestId(page);
    const mails = await parsedMails(2);
    expect(mails.map((m) => m.subject).sort()).toEqual(['一郎さんへ', '三郎さんへ']);
    expect(mails.find((m) => m.subject === '三郎さんへ')!.html).toContain('クーポン C-3');
  });

  test('group combination (AND): groups from the address book, combination download, sent to the intersection; axe passes', async () => {
    await addGroups({ 'g-one': ['g1@example.com', 'g2@example.com'], 'g-two': ['g2@example.com', 'g3@example.com'] });
    const page = await openSend('ja');
    await fillBasics(page, { title: 'グループ', body: 'グループ送信' });
    await chooseGroups(page, ['g-one (2 件)', 'g-two (2 件)'], 'AND');
    await c.expectAccessible(page, 'group combination mode');
    await c.screenshot(page, 'send-ja-group-mode');
    const link = page.getByRole('link', { name: '組み合わせ結果のダウンロード' });
    expect(await link.getAttribute('href')).toBe('/api/v1/address-book/combination?andFilter=true&groups=g-one&groups=g-two');
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    expect(download.suggestedFilename()).toMatch(/\.xlsx$/);
    await button(page, '送信').click();
    const requestId = await sentRequestId(page);
    const [mail] = await parsedMails(1);
    expect(mail!.to && 'value' in mail!.to ? mail!.to.value[0]?.address : undefined).toBe('g2@example.com');
    await waitFor(async () => (await requestRow(requestId))?.emailStatus.code === 'S');
    expect((await requestRow(requestId)).recipientCount).toBe(1);
  });

  test('group combination (OR): the mail goes to every address of either group, each once', async () => {
    await addGroups({ 'or-one': ['o1@example.com', 'o2@example.com'], 'or-two': ['o2@example.com', 'o3@example.com'] });
    const page = await openSend('ja');
    await fillBasics(page, { title: 'グループOR', body: 'どちらかのグループ' });
    await chooseGroups(page, ['or-one (2 件)', 'or-two (2 件)'], 'OR');
    const link = page.getByRole('link', { name: '組み合わせ結果のダウンロード' });
    expect(await link.getAttribute('href')).toBe('/api/v1/address-book/combination?andFilter=false&groups=or-one&groups=or-two');
    await button(page, '送信').click();
    const requestId = await sentRequestId(page);
    const mails = await parsedMails(3);
    expect(mails.map((m) => (m.to && 'value' in m.to ? m.to.value[0]?.address : undefined)).sort()).toEqual([
      'o1@example.com',
      'o2@example.com',
      'o3@example.com',
    ]);
    await waitFor(async () => (await requestRow(requestId))?.emailStatus.code === 'S');
    expect((await requestRow(requestId)).recipientCount).toBe(3);
  });
});

describe('send screen: content', () => {
  test('advertising: the title prefix preview, the basic and a custom unsubscribe notice, and the mail as sent', async () => {
    const page = await openSend('ja');
    await fillBasics(page, { title: 'セールのお知らせ', body: '今週のセール' });
    await page.getByRole('radio', { name: '広告メール' }).check();
    expect(await page.getByTestId('ad-title-preview').textContent()).toContain('(광고)セールのお知らせ');
    // the basic notice is shown in the prefix's language, with its unsubscribe link text
    expect(await page.getByTestId('unsubscribe-notice').textContent()).toContain('수신거부');
    // the notes on sending advertising mail
    await button(page, '送信時の留意事項').click();
    const notes = page.getByRole('dialog', { name: '広告メール送信時の留意事項' });
    await notes.getByText('件名の先頭に広告表示「(광고)」が自動で付けられます。').waitFor();
    await c.expectAccessible(page, 'advertising notes dialog');
    await c.screenshot(page, 'send-ja-advertising-notes');
    await button(notes, '閉じる').click();

    await page.getByRole('radio', { name: 'ユーザー定義の案内文' }).check();
    await field(page, '案内文(HTML)').fill('<p>配信停止は<a href="#{UNSUBSCRIBE_URL}">こちら</a></p>');
    await addAddresses(page, '受信者', ['ad@example.com']);
    await button(page, '送信').click();
    const requestId = await sentRequestId(page);
    const [mail] = await parsedMails(1);
    expect(mail!.subject).toBe('(광고)セールのお知らせ');
    expect(mail!.html).toContain('配信停止は');
    expect(c.sink.messages[0]!.raw.toString()).toMatch(/^List-Unsubscribe:/m);
    expect((await requestRow(requestId)).advertising).toBe(true);
  });

  test('attachment limits are explained before upload and enforced before upload (size, total, extension)', async () => {
    const page = await openSend('ja');
    // explained up front
    await page.getByText('1個当たり最大 10 MB、全 20 MB まで添付できます。').waitFor();
    expect(await page.getByText(/添付できないファイル拡張子: .*\.exe.*\.cab/).count()).toBe(1);
    const uploads: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().endsWith('/api/v1/files')) uploads.push(r.url());
    });
    const input = page.getByTestId('attachment-input');
    const MB = 1024 * 1024;
    // Handing the browser 10-20 MB through the DevTools protocol is slow on a busy machine.
    const BIG_FILE = { timeout: 60_000 };
    await input.setInputFiles({ name: 'big.pdf', mimeType: 'application/pdf', buffer: Buffer.alloc(10 * MB + 1) }, BIG_FILE);
    await page.getByText(/big\.pdf は 10\.0 MB で、1個当たりの上限 10 MB を超えているため添付できません。/).waitFor();
    await input.setInputFiles({ name: 'tool.EXE', mimeType: 'application/octet-stream', buffer: Buffer.from('MZ') });
    await page.getByText('tool.EXE は添付できない拡張子 (.exe) のため添付できません。').waitFor();
    expect(uploads).toEqual([]);
    // 9 + 9 MB fit; a third 9 MB file would make 27 MB
    await input.setInputFiles(
      [
        { name: 'a.pdf', mimeType: 'application/pdf', buffer: Buffer.alloc(9 * MB) },
        { name: 'b.pdf', mimeType: 'application/pdf', buffer: Buffer.alloc(9 * MB) },
      ],
      BIG_FILE,
    );
    await uploadsDone(page);
    expect(uploads).toHaveLength(2);
    await input.setInputFiles({ name: 'c.pdf', mimeType: 'application/pdf', buffer: Buffer.alloc(9 * MB) }, BIG_FILE);
    await page.getByText(/c\.pdf を添付すると合計 27\.0 MB になり、全体の上限 20 MB を超えるため添付できません。/).waitFor();
    expect(uploads).toHaveLength(2);
    // a file can be removed (its upload is deleted)
    await button(page, 'a.pdf を削除').click();
    expect(await page.getByText('a.pdf').count()).toBe(0);
  }, 180_000);

  test('template: imported with [インポート], fields filled and locked; the request records the template', async () => {
    const created = await c.svc.call('POST', '/api/v1/template', {
      body: { templateName: 'Welcome', title: 'Welcome ${NAME}', body: '<p>Hi ${NAME}</p>', senderAddress: 'tpl@company.com', senderName: 'Tpl' },
    });
    expect(created.status).toBe(201);
    const page = await openSend('ja');
    await page.getByRole('checkbox', { name: 'テンプレートを使用' }).check();
    await button(page, 'インポート').click();
    const dialog = page.getByRole('dialog', { name: 'テンプレートのインポート' });
    await dialog.getByRole('radio', { name: 'Welcome' }).check();
    await c.expectAccessible(page, 'template import dialog');
    await c.screenshot(page, 'send-ja-template-import');
    await button(dialog, 'インポート').click();
    const subject = field(page, 'メールの件名');
    await waitFor(async () => (await subject.inputValue()) === 'Welcome ${NAME}', 10_000, 'the template subject');
    expect(await field(page, '送信者メールアドレス').inputValue()).toBe('tpl@company.com');
    expect(await subject.getAttribute('readonly')).not.toBeNull();
    await addAddresses(page, '受信者', ['tpl-r@example.com']);
    await button(page, '送信').click();
    await answerTags(page, { NAME: 'Lee' });
    const requestId = await sentRequestId(page);
    const [mail] = await parsedMails(1);
    expect(mail!.subject).toBe('Welcome Lee');
    expect(mail!.html).toContain('Hi Lee');
    expect(await requestRow(requestId)).toMatchObject({ templateSid: created.body.sid, templateName: 'Welcome' });
    // turning the template off keeps its content, editable
    await page.getByRole('checkbox', { name: 'テンプレートを使用' }).uncheck();
    expect(await subject.getAttribute('readonly')).toBeNull();
    expect(await subject.inputValue()).toBe('Welcome ${NAME}');
  });

  test('TEXT style is sent as HTML: escaped, line breaks as <br>; the style and its preview pass axe', async () => {
    const page = await openSend('ja');
    await fillBasics(page, { title: 'テキスト', body: 'x' });
    await page.getByRole('radio', { name: 'TEXT' }).check();
    await field(page, '本文(テキスト)').fill('1行目 <b>太字ではない</b>\n2行目 & 記号');
    await c.expectAccessible(page, 'TEXT body style');
    await c.screenshot(page, 'send-ja-text-style');
    // the preview shows the HTML that will be sent, in a sandboxed frame (no scripts)
    await button(page, 'プレビュー').click();
    const preview = page.getByRole('dialog', { name: '本文のプレビュー' });
    const frame = preview.locator('iframe');
    expect(await frame.getAttribute('sandbox')).toBe('');
    await page.frameLocator('dialog iframe').getByText('2行目 & 記号').waitFor();
    await c.expectAccessible(page, 'preview dialog');
    await c.screenshot(page, 'send-ja-preview');
    await button(preview, '閉じる').click();
    await addAddresses(page, '受信者', ['text@example.com']);
    await button(page, '送信').click();
    await sentRequestId(page);
    const [mail] = await parsedMails(1);
    expect(mail!.html).toContain('1行目 &lt;b&gt;太字ではない&lt;/b&gt;<br>');
    expect(mail!.html).toContain('2行目 &amp; 記号');
  });

  test('HTML style: the HTML as typed arrives in the mail; the style passes axe', async () => {
    const page = await openSend('ja');
    await fillBasics(page, { title: 'HTML', body: 'x' });
    await page.getByRole('radio', { name: 'HTML', exact: true }).check();
    const html = '<h1 style="color:#c00">見出し</h1>\n<table border="1"><tr><td>セル</td></tr></table>';
    await field(page, '本文(HTML)').fill(html);
    await c.expectAccessible(page, 'HTML body style');
    await c.screenshot(page, 'send-ja-html-style');
    await addAddresses(page, '受信者', ['html@example.com']);
    await button(page, '送信').click();
    await sentRequestId(page);
    const [mail] = await parsedMails(1);
    expect(mail!.html).toContain(html);
  });

  test('the editor: pasted script, handlers and javascript: links never run and are not sent', async () => {
    const page = await openSend('ja');
    await fillBasics(page, { title: '貼り付け', body: '' });
    const editor = page.getByRole('textbox', { name: 'メール本文' });
    await editor.click();
    await editor.evaluate((el) => {
      const dt = new DataTransfer();
      dt.setData(
        'text/html',
        '<p>貼り付け<img src="x" onerror="window.__pwned=1"><script>window.__pwned=2</script><a href="javascript:window.__pwned=3">link</a></p>',
      );
      dt.setData('text/plain', '貼り付け');
      el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    });
    await page.getByRole('textbox', { name: 'メール本文' }).getByText('貼り付け').waitFor();
    // toolbar: bold by keyboard-reachable button
    await button(page, '太字').click();
    await page.keyboard.type('強調');
    await addAddresses(page, '受信者', ['paste@example.com']);
    await button(page, '送信').click();
    await sentRequestId(page);
    const [mail] = await parsedMails(1);
    expect(mail!.html).toContain('貼り付け');
    expect(mail!.html).not.toMatch(/onerror|<script|javascript:/i);
    expect(mail!.html).toMatch(/<b>強調<\/b>|<strong>強調<\/strong>/);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  });
});
