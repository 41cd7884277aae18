import fs from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { simpleParser } from 'mailparser';
import { waitFor } from '../helpers/test-service.ts';
import { readXlsx } from '../helpers/xlsx-sheet.ts';
import { dropFile, type Lang, LANGS, useConsole } from './helpers/console.ts';

// The issue's whole journey through the console, in each language, with the mouse as people
// use it: send with a tag and an attachment on the send screen → the mail arrives at the SMTP
// sink → the request shows in the request tab and its recipient in the recipient tab →
// an Excel file of the search is made → it downloads and opens.

const c = useConsole({ resetSinkAfterEach: true });

const TX = {
  ja: {
    send: 'メール送信',
    senderName: '送信者名',
    senderAddress: '送信者メールアドレス',
    subject: 'メールの件名',
    body: 'メール本文',
    recipients: '受信者',
    sendButton: '送信',
    tagDialog: '置換タグの入力',
    tagValue: (t: string) => `\${${t}} の値`,
    confirm: '確認',
    uploading: 'アップロード中…',
    mails: 'メール送信リスト',
    tabs: ['リクエスト別リスト', '受信者別リスト'],
    exportOpen: 'ダウンロードリクエスト/リスト',
    exportTitle: 'エクセルダウンロードリスト',
    exportRequest: 'ファイル作成をリクエスト',
    download: 'ダウンロード',
  },
  ko: {
    send: '메일 발송',
    senderName: '발송자 이름',
    senderAddress: '발송자 메일 주소',
    subject: '메일 제목',
    body: '메일 본문',
    recipients: '수신자',
    sendButton: '발송',
    tagDialog: '치환 태그 입력',
    tagValue: (t: string) => `\${${t}} 값`,
    confirm: '확인',
    uploading: '업로드 중…',
    mails: '메일 발송 목록',
    tabs: ['요청별 목록', '수신자별 목록'],
    exportOpen: '다운로드 요청/목록',
    exportTitle: '엑셀 다운로드 목록',
    exportRequest: '파일 생성 요청',
    download: '다운로드',
  },
  en: {
    send: 'Send mail',
    senderName: 'Sender name',
    senderAddress: 'Sender address',
    subject: 'Subject',
    body: 'Body',
    recipients: 'Recipients',
    sendButton: 'Send',
    tagDialog: 'Tag values',
    tagValue: (t: string) => `Value of \${${t}}`,
    confirm: 'Confirm',
    uploading: 'Uploading…',
    mails: 'Mailing list',
    tabs: ['By request', 'By recipient'],
    exportOpen: 'Download request/list',
    exportTitle: 'Excel downloads',
    exportRequest: 'Request a file',
    download: 'Download',
  },
} as const;

const NAME = { ja: 'キム', ko: '김민수', en: 'Kim' } as const;

describe('the console end to end: send → delivered → both tabs → Excel', () => {
  test.each(LANGS)('%s', async (lang: Lang) => {
    const tx = TX[lang];
    const subject = `E2E ${lang} \${NAME}`;
    const address = `e2e-${lang}@sink.test`;
    const page = await c.signedInPage(lang);

    // The send screen, reached from the side menu.
    await page.getByRole('link', { name: tx.send, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: tx.send }).waitFor();
    await page.getByLabel(tx.senderName, { exact: true }).fill('Console E2E');
    await page.getByLabel(tx.senderAddress, { exact: true }).fill('e2e@company.test');
    await page.getByLabel(tx.subject, { exact: true }).fill(subject);
    await page.getByRole('textbox', { name: tx.body }).click();
    await page.keyboard.type(`\${NAME} - ${lang}`);
    await dropFile(page, `note-${lang}.txt`, `attachment ${lang}`);
    await page.getByText(`note-${lang}.txt`).waitFor();
    await waitFor(async () => (await page.getByText(tx.uploading).count()) === 0, 15_000, 'the upload');
    const to = page.getByLabel(tx.recipients, { exact: true });
    await to.fill(address);
    await to.press('Enter');
    await page.getByRole('button', { name: tx.sendButton, exact: true }).click();
    const tags = page.getByRole('dialog', { name: tx.tagDialog });
    await tags.getByLabel(tx.tagValue('NAME')).fill(NAME[lang]);
    await tags.getByRole('button', { name: tx.confirm, exact: true }).click();
    const done = page.locator('.send-done');
    await done.waitFor();
    const requestId = /Request ID (\d{20})/.exec((await done.textContent()) ?? '')?.[1];
    expect(requestId).toBeDefined();

    // The mail, as the sink received it.
    const [received] = await c.sink.waitForMessages(1, 20_000);
    const mail = await simpleParser(received!.raw);
    expect(mail.subject).toBe(`E2E ${lang} ${NAME[lang]}`);
    expect(mail.html).toContain(`${NAME[lang]} - ${lang}`);
    expect(mail.to && !Array.isArray(mail.to) ? mail.to.value[0]?.address : undefined).toBe(address);
    expect(mail.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([[`note-${lang}.txt`, `attachment ${lang}`]]);
    await waitFor(async () => {
      const row = (await c.svc.call('GET', `/api/v1/mails/requests?requestId=${requestId}`)).body.content[0];
      return row?.emailStatus.code === 'S';
    });

    // The request tab, then the recipient tab, searched by the subject.
    await page.getByRole('link', { name: tx.mails, exact: true }).click();
    await page.goto(c.url(`/mails?title=${encodeURIComponent(`E2E ${lang}`)}`));
    const requests = page.locator(`tbody tr[data-request-id]`);
    await requests.first().waitFor();
    expect(await requests.count()).toBe(1);
    expect(await requests.first().textContent()).toContain('e2e@company.test');
    await c.screenshot(page, `e2e-requests-${lang}`);
    await page.getByRole('tab', { name: tx.tabs[1] }).click();
    await page.locator('table tbody tr', { hasText: address }).first().waitFor();
    await c.screenshot(page, `e2e-recipients-${lang}`);

    // An Excel file of this search: made, downloaded, opened.
    await page.getByRole('button', { name: tx.exportOpen }).click();
    const dialog = page.getByRole('dialog', { name: tx.exportTitle });
    await dialog.getByRole('button', { name: tx.exportRequest }).click();
    // The list also holds the files made in the languages before this one: this search's row.
    const link = dialog.locator('tr[data-export-id]', { hasText: `E2E ${lang}` }).getByRole('link', { name: new RegExp(tx.download) });
    await link.waitFor({ timeout: 30_000 });
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const { sheets } = await readXlsx(fs.readFileSync((await download.path())!));
    const rows = sheets[0]!;
    expect(rows).toHaveLength(2); // header + the one recipient
    expect(rows[1]!.join(' ')).toContain(address);
    await page.context().close();
  });
});
