// Management screens, end to end in a real browser (issue 14 item 4): templates and categories
// with backup and restore (ja), address book and groups (ko).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { waitFor } from '../helpers/test-service.ts';
import { useConsole } from './helpers/console.ts';

const c = useConsole();

type TreeNode = { sid: number; name: string; isCategory: boolean; isUse: boolean; subCategoris: TreeNode[]; templates: TreeNode[] };
async function tree(): Promise<TreeNode[]> {
  const res = await c.svc.call('GET', '/api/v1/template').expect(200);
  return res.body.contents;
}
function find(nodes: TreeNode[], pred: (n: TreeNode) => boolean, out: TreeNode[] = []): TreeNode[] {
  for (const n of nodes) {
    if (pred(n)) out.push(n);
    find([...n.subCategoris, ...n.templates], pred, out);
  }
  return out;
}

describe('templates screen (ja)', () => {
  it('creates a category and a template in it, edits, moves, deletes and restores the template, deletes an empty category', async () => {
    const page = await c.signedInPage('ja');
    await page.getByRole('link', { name: 'テンプレート' }).click();
    await page.getByRole('heading', { name: 'テンプレート', level: 1 }).waitFor();

    // category
    await page.getByRole('button', { name: 'カテゴリ作成' }).click();
    const dialog = page.getByRole('dialog', { name: 'カテゴリ作成' });
    // a name the API refuses (only Hangul, letters, digits, ...): its message shows next to the field
    await dialog.getByLabel('カテゴリ名').fill('お知らせ');
    await dialog.getByRole('button', { name: '保存' }).click();
    await dialog
      .locator('#cat-name-error')
      .filter({ hasText: /^categoryName: / })
      .waitFor();
    expect(await dialog.getByLabel('カテゴリ名').getAttribute('aria-invalid')).toBe('true');
    expect(find(await tree(), (n) => n.isCategory)).toEqual([]);
    await dialog.getByLabel('カテゴリ名').fill('News');
    await dialog.getByRole('button', { name: '保存' }).click();
    await page.getByRole('status').filter({ hasText: 'カテゴリ「News」を保存しました。' }).waitFor();
    const tree1 = page.getByRole('navigation', { name: 'カテゴリとテンプレート' });
    await tree1.getByText('News').waitFor();
    const [cat] = find(await tree(), (n) => n.isCategory && n.name === 'News');
    expect(cat).toBeDefined();

    // template in the category; an invalid name first: the API's error shows next to the field
    await page.getByRole('button', { name: 'テンプレート作成' }).click();
    const form = page.getByRole('form', { name: '新しいテンプレート' });
    await form.getByLabel('テンプレート名').fill('welcome/mail');
    await form.getByLabel('カテゴリ').selectOption({ label: 'News' });
    await form.getByLabel('説明').fill('入会のお礼');
    await form.getByLabel('件名').fill('ようこそ ${NAME} 様');
    await form.getByLabel('送信者アドレス').fill('news@company.example');
    await form.getByLabel('送信者名').fill('会社');
    await form.getByLabel('本文(HTML)').fill('<p>ご登録ありがとうございます。</p>');
    await form.getByRole('button', { name: '保存' }).click();
    const nameInput = form.getByLabel('テンプレート名');
    await page.waitForFunction(() => document.querySelector('[aria-invalid="true"]') !== null);
    expect(await nameInput.getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('#tpl-err-templateName').textContent()).toMatch(/^templateName: /);

    await nameInput.fill('Welcome mail');
    await form.getByRole('button', { name: '保存' }).click();
    await page.getByRole('status').filter({ hasText: 'テンプレート「Welcome mail」を保存しました。' }).waitFor();
    let [tpl] = find(await tree(), (n) => !n.isCategory && n.name === 'Welcome mail');
    expect(tpl).toBeDefined();
    let full = (await c.svc.call('GET', `/api/v1/template/${tpl!.sid}`).expect(200)).body;
    expect(full).toMatchObject({
      name: 'Welcome mail',
      description: '入会のお礼',
      title: 'ようこそ ${NAME} 様',
      senderAddress: 'news@company.example',
      senderName: '会社',
      body: '<p>ご登録ありがとうございます。</p>',
      isUse: true,
      category: { sid: cat!.sid, name: 'News' },
    });

    // edit: subject changed and moved to the top level
    const edit = page.getByRole('form', { name: 'テンプレートの編集' });
    await edit.getByLabel('件名').fill('ようこそ!');
    await edit.getByLabel('カテゴリ').selectOption({ label: '(最上位)' });
    await edit.getByRole('button', { name: '保存' }).click();
    await waitFor(async () => {
      full = (await c.svc.call('GET', `/api/v1/template/${tpl!.sid}`)).body;
      return full.title === 'ようこそ!' && full.category === null;
    });

    // rename the category
    await page.getByRole('button', { name: 'カテゴリ「News」を編集' }).click();
    const catDialog = page.getByRole('dialog', { name: 'カテゴリ編集' });
    await catDialog.getByLabel('カテゴリ名').fill('Notices');
    await catDialog.getByRole('button', { name: '保存' }).click();
    await tree1.getByText('Notices').waitFor();
    expect(find(await tree(), (n) => n.isCategory).map((n) => n.name)).toEqual(['Notices']);

    // a sub-category, then moved to the top level (a category can't move into itself)
    await page.getByRole('button', { name: 'カテゴリ作成' }).click();
    const subDialog = page.getByRole('dialog', { name: 'カテゴリ作成' });
    await subDialog.getByLabel('カテゴリ名').fill('Sub');
    await subDialog.getByLabel('上位カテゴリ').selectOption({ label: 'Notices' });
    await subDialog.getByRole('button', { name: '保存' }).click();
    await page.getByRole('status').filter({ hasText: 'カテゴリ「Sub」を保存しました。' }).waitFor();
    expect((await tree()).map((n) => [n.name, n.subCategoris.map((x) => x.name)])).toContainEqual(['Notices', ['Sub']]);
    await page.getByRole('button', { name: 'カテゴリ「Sub」を編集' }).click();
    const moveDialog = page.getByRole('dialog', { name: 'カテゴリ編集' });
    await expect(moveDialog.getByLabel('上位カテゴリ').locator('option').allTextContents()).resolves.not.toContain('\u00a0\u00a0Sub');
    await moveDialog.getByLabel('上位カテゴリ').selectOption({ label: '(最上位)' });
    await moveDialog.getByRole('button', { name: '保存' }).click();
    await moveDialog.waitFor({ state: 'hidden' });
    expect((await tree()).filter((n) => n.isCategory).map((n) => [n.name, n.subCategoris.length])).toEqual(
      expect.arrayContaining([
        ['Notices', 0],
        ['Sub', 0],
      ]),
    );
    await page.getByRole('button', { name: 'カテゴリ「Sub」を削除' }).click();
    await page.getByRole('dialog').getByRole('button', { name: '削除' }).click();
    await page.getByRole('status').filter({ hasText: 'カテゴリ「Sub」を削除しました。' }).waitFor();

    // delete (soft) and restore the template
    await edit.getByRole('button', { name: '削除' }).click();
    await page.getByRole('dialog').getByRole('button', { name: '削除' }).click();
    await page.getByRole('status').filter({ hasText: 'テンプレート「Welcome mail」を削除しました。' }).waitFor();
    [tpl] = find(await tree(), (n) => n.name === 'Welcome mail');
    expect(tpl!.isUse).toBe(false);
    await tree1.getByRole('button', { name: /Welcome mail.*削除済み/ }).waitFor();
    // deleted templates can be left out of the tree
    await page.getByLabel('削除済みのテンプレートも表示').uncheck();
    await tree1.getByRole('button', { name: /Welcome mail/ }).waitFor({ state: 'detached' });
    await page.getByLabel('削除済みのテンプレートも表示').check();
    await tree1.getByRole('button', { name: /Welcome mail.*削除済み/ }).waitFor();
    await edit.getByRole('button', { name: '復元' }).click();
    await page.getByRole('status').filter({ hasText: 'テンプレート「Welcome mail」を復元しました。' }).waitFor();
    [tpl] = find(await tree(), (n) => n.name === 'Welcome mail');
    expect(tpl!.isUse).toBe(true);

    // the now empty category can be deleted
    await page.getByRole('button', { name: 'カテゴリ「Notices」を削除' }).click();
    await page.getByRole('dialog').getByRole('button', { name: '削除' }).click();
    await page.getByRole('status').filter({ hasText: 'カテゴリ「Notices」を削除しました。' }).waitFor();
    expect(find(await tree(), (n) => n.isCategory)).toEqual([]);
  }, 60_000);

  it('requests a backup, downloads it when the job has written it, and restores it as new templates', async () => {
    const cat = (await c.svc.call('POST', '/api/v1/category', { body: { categoryName: 'Backup cat' } }).expect(201)).body;
    const tpl = { templateName: 'Backup tpl', title: 'T', body: '<p>b</p>', senderAddress: 'a@company.example', categorySid: cat.sid };
    await c.svc.call('POST', '/api/v1/template', { body: tpl }).expect(201);
    const page = await c.signedInPage('ja');
    await page.goto(c.url('/templates'));
    await page.getByRole('button', { name: 'バックアップをリクエスト' }).click();
    await page.getByRole('status').filter({ hasText: 'バックアップをリクエストしました。' }).waitFor();
    const link = page.getByRole('link', { name: /^バックアップ \d+ をダウンロード$/ }).first();
    await link.waitFor({ timeout: 20_000 });
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tpl-backup-')), 'backup.json');
    await download.saveAs(file);
    const text = fs.readFileSync(file, 'utf8');
    expect(JSON.parse(text).templates.map((t: { name: string }) => t.name)).toContain('Backup tpl');

    const before = find(await tree(), (n) => !n.isCategory && n.name === 'Backup tpl').length;
    await page.getByLabel('バックアップファイル').setInputFiles(file);
    await page.getByRole('form', { name: '復元' }).getByRole('button', { name: '復元' }).click();
    await page.getByRole('status').filter({ hasText: 'バックアップを復元しました。' }).waitFor();
    expect(find(await tree(), (n) => !n.isCategory && n.name === 'Backup tpl').length).toBe(before + 1);
    // the restored template shows in the tree (once the tree has reloaded: a single count raced it)
    const shown = page.getByRole('navigation', { name: 'カテゴリとテンプレート' }).getByRole('button', { name: 'Backup tpl' });
    await waitFor(async () => (await shown.count()) === before + 1, 10_000, `${before + 1} "Backup tpl" entries in the tree`);
  }, 60_000);
});

describe('address book screen (ko)', () => {
  const book = async () => (await c.svc.call('GET', '/api/v1/address-book').expect(200)).body;
  const group = async (name: string) => (await book()).groups.find((g: { groupName: string }) => g.groupName === name);

  it('creates groups with addresses, adds to and removes from a group, empties and deletes groups, deletes addresses and the whole book', async () => {
    const page = await c.signedInPage('ko');
    await page.getByRole('link', { name: '주소록' }).click();
    await page.getByRole('heading', { name: '주소록', level: 1 }).waitFor();
    await page.getByTestId('address-total').filter({ hasText: '주소록의 주소 수: 0' }).waitFor();

    const add = page.getByRole('form', { name: '그룹 생성·주소 등록' });
    await add.getByLabel('그룹 이름').fill('vip');
    await add.getByLabel('이메일 주소(비워 두면 그룹만 생성)').fill('kim@example.com; lee@example.com\npark@example.com');
    await add.getByRole('button', { name: '등록' }).click();
    await page.getByRole('status').filter({ hasText: '"vip" 그룹에 등록했습니다.' }).waitFor();
    await page.getByTestId('address-total').filter({ hasText: '주소록의 주소 수: 3' }).waitFor();
    expect(await group('vip')).toMatchObject({ addressCount: 3 });

    // an empty group, then an invalid address: the API's message shows next to the addresses
    await add.getByLabel('그룹 이름').fill('news');
    await add.getByRole('button', { name: '등록' }).click();
    await page.getByRole('row', { name: /news/ }).waitFor();
    expect(await group('news')).toMatchObject({ addressCount: 0 });
    await add.getByLabel('그룹 이름').fill('news');
    await add.getByLabel('이메일 주소(비워 두면 그룹만 생성)').fill('not-an-address');
    await add.getByRole('button', { name: '등록' }).click();
    await page.locator('#ab-text-error').filter({ hasText: 'not-an-address' }).waitFor();
    expect(await group('news')).toMatchObject({ addressCount: 0 });
    await add.getByLabel('이메일 주소(비워 두면 그룹만 생성)').fill('');

    // add to a group from its row
    await page.getByRole('button', { name: '주소 추가: news' }).click();
    const addDialog = page.getByRole('dialog', { name: '"news" 그룹에 주소 추가' });
    await addDialog.getByLabel('이메일 주소').fill('kim@example.com choi@example.com');
    await c.expectAccessible(page, 'add-to-group dialog');
    await c.screenshot(page, 'manage-address-book-add-to-group-ko');
    await addDialog.getByRole('button', { name: '등록' }).click();
    await addDialog.waitFor({ state: 'hidden' });
    await page.getByRole('row', { name: /news\s*2/ }).waitFor();
    expect(await book()).toMatchObject({ totalAddressCount: 4 });

    // the group's addresses download as .xlsx
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: '"news" 그룹의 주소 다운로드(.xlsx)' }).click()]);
    expect(download.suggestedFilename()).toMatch(/\.xlsx$/);

    // remove from a group: the addresses stay in the book
    await page.getByRole('button', { name: '그룹에서 제외: vip' }).click();
    const removeDialog = page.getByRole('dialog', { name: '"vip" 그룹에서 주소 제외' });
    await removeDialog.getByLabel('이메일 주소').fill('park@example.com');
    await c.expectAccessible(page, 'remove-from-group dialog');
    await c.screenshot(page, 'manage-address-book-remove-from-group-ko');
    await removeDialog.getByRole('button', { name: '제외' }).click();
    await removeDialog.waitFor({ state: 'hidden' });
    await page.getByRole('row', { name: /vip\s*2/ }).waitFor();
    expect(await book()).toMatchObject({ totalAddressCount: 4 });

    // empty a group, delete a group
    await page.getByRole('button', { name: '비우기: vip' }).click();
    await page.getByRole('dialog').getByRole('button', { name: '비우기' }).click();
    await page.getByRole('row', { name: /vip\s*0/ }).waitFor();
    await page.getByRole('button', { name: '그룹 삭제: vip' }).click();
    await page.getByRole('dialog').getByRole('button', { name: '그룹 삭제' }).click();
    await page.getByRole('row', { name: /vip/ }).waitFor({ state: 'detached' });
    expect(await group('vip')).toBeUndefined();
    expect(await book()).toMatchObject({ totalAddressCount: 4 });

    // delete addresses from the book (and every group)
    const del = page.getByRole('form', { name: '주소록에서 주소 삭제' });
    await del.getByLabel('이메일 주소').fill('kim@example.com');
    await del.getByRole('button', { name: '주소 삭제' }).click();
    await page.getByTestId('address-total').filter({ hasText: '주소록의 주소 수: 3' }).waitFor();
    expect(await group('news')).toMatchObject({ addressCount: 1 });

    // delete everything
    await page.getByRole('button', { name: '주소록 전체 삭제' }).click();
    await page.getByRole('dialog').getByRole('button', { name: '주소록 전체 삭제' }).click();
    await page.getByRole('status').filter({ hasText: '주소 3건을 삭제했습니다.' }).waitFor();
    expect(await book()).toEqual({ totalAddressCount: 0, groups: [] });
    await page.getByText('그룹이 없습니다.').waitFor();
  }, 60_000);
});
