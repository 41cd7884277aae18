import { beforeAll, describe, expect, it } from '@jest/globals';
import { simpleParser } from 'mailparser';
import { sql } from 'kysely';
import type { CreatedKey } from '../../src/modules/projects/projects.service.ts';
import { waitFor } from '../helpers/test-service.ts';
import { useTestService } from '../helpers/use-test-service.ts';
import { expectError, asFile } from '../helpers/responses.ts';

/** Templates and categories (ncp-api-reference §7), and templateSid on createMailRequest. */

const { svc, sink } = useTestService({ resetSinkAfterEach: true });
let other: CreatedKey;

beforeAll(async () => {
  other = await svc.newKey('other-project');
});

const NES = {
  utc: expect.any(Number),
  formattedDate: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
  formattedDateTime: expect.stringMatching(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \d{3}$/),
};

let n = 0;
const uniq = (prefix: string) => `${prefix}${++n}`;

const template = (over: Record<string, unknown> = {}) => ({
  templateName: uniq('membershipTemplate'),
  description: 'Example of creating a template',
  title: '[EN] Naver Cloud Platform',
  senderAddress: 'admin@master.com',
  senderName: 'Admin',
  body: 'Congratulations on your membership.',
  ...over,
});

const createTemplate = (body: Record<string, unknown>, key?: CreatedKey) => svc.call('POST', '/api/v1/template', { body, key });
const createCategory = (body: Record<string, unknown>, key?: CreatedKey) => svc.call('POST', '/api/v1/category', { body, key });
const structure = (query = '', key?: CreatedKey) => svc.call('GET', `/api/v1/template${query}`, { key });

type Node = { sid: number; name: string; isCategory: boolean; isUse: boolean; subCategoris: Node[]; templates: Node[] };
function find(nodes: Node[], sid: number): Node | undefined {
  for (const node of nodes) {
    if (node.sid === sid) return node;
    const found = find(node.subCategoris, sid) ?? find(node.templates, sid);
    if (found) return found;
  }
  return undefined;
}

describe('categories', () => {
  it('creates a category (201, {sid, parentSid, name}) and sub-categories', async () => {
    const res = await createCategory({ categoryName: 'testCategory', parentSid: -1 });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ sid: expect.any(Number), parentSid: -1, name: 'testCategory' });
    const sub = await createCategory({ categoryName: '광고_AD-1.0', parentSid: res.body.sid });
    expect(sub.status).toBe(201);
    expect(sub.body).toEqual({ sid: expect.any(Number), parentSid: res.body.sid, name: '광고_AD-1.0' });
    const byString = await createCategory({ categoryName: 'byString', parentSid: String(res.body.sid) });
    expect(byString.body.parentSid).toBe(res.body.sid);
    const defaultParent = await createCategory({ categoryName: uniq('top') });
    expect(defaultParent.body.parentSid).toBe(-1);
  });

  it.each([
    ['no name', {}, /categoryName: required/],
    ['an empty name', { categoryName: '' }, /categoryName: required/],
    ['a leading space', { categoryName: ' with space' }, /categoryName: only Hangul/],
    ['a trailing space', { categoryName: 'with space ' }, /categoryName: only Hangul/],
    ['a tab', { categoryName: 'with\tspace' }, /categoryName: only Hangul/],
    ['an emoji', { categoryName: 'emoji😀' }, /categoryName: only Hangul/],
    ['kanji', { categoryName: '日本語' }, /categoryName: only Hangul/],
    ['101 characters', { categoryName: 'x'.repeat(101) }, /categoryName: at most 100 characters/],
    ['a parentSid that is no sid', { categoryName: 'ok', parentSid: 'abc' }, /parentSid: must be a category sid/],
  ])('refuses %s', async (_label, body, message) => {
    expectError(await createCategory(body), '77102', message);
  });

  it('accepts a 100-character Hangul name', async () => {
    expect((await createCategory({ categoryName: '가'.repeat(100) })).status).toBe(201);
  });

  it('accepts spaces between the characters of a name', async () => {
    const res = await createCategory({ categoryName: 'AD  Category 광고' });
    expect(res.status).toBe(201);
    expect(res.body.name).toBe('AD  Category 광고');
  });

  it('refuses a duplicate name among siblings, allows it elsewhere', async () => {
    const name = uniq('dup');
    const a = await createCategory({ categoryName: name });
    expect(a.status).toBe(201);
    expectError(await createCategory({ categoryName: name }), '77102', /already exists/);
    expect((await createCategory({ categoryName: name, parentSid: a.body.sid })).status).toBe(201);
  });

  it("answers 77103 for an unknown or another project's parent", async () => {
    const theirs = await createCategory({ categoryName: 'theirs' }, other);
    expectError(await createCategory({ categoryName: 'x', parentSid: theirs.body.sid }), '77103', /parentSid: category \d+ does not exist/);
    expectError(await createCategory({ categoryName: 'x', parentSid: 999999 }), '77103');
  });

  it('renames and moves a category, with lowerSid ordering, but never into itself', async () => {
    const root = (await createCategory({ categoryName: uniq('root') })).body;
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map(async (x) => (await createCategory({ categoryName: x, parentSid: root.sid })).body));
    const order = async () => find((await structure()).body.contents, root.sid)!.subCategoris.map((s) => s.name);
    const initial = await order();
    expect(initial.sort()).toEqual(['a', 'b', 'c']);

    // put c right above a
    const moved = await svc.call('PUT', `/api/v1/category/${c.sid}/name-location`, { body: { lowerSid: a.sid } });
    expect(moved.status).toBe(200);
    expect(moved.body).toEqual({ sid: c.sid, parentSid: root.sid, name: 'c' });
    const after = await order();
    expect(after.indexOf('c')).toBe(after.indexOf('a') - 1);

    const renamed = await svc.call('PUT', `/api/v1/category/${b.sid}/name-location`, { body: { categoryName: 'b2', parentSid: -1 } });
    expect(renamed.body).toEqual({ sid: b.sid, parentSid: -1, name: 'b2' });
    expect(await order()).not.toContain('b2');

    const child = (await createCategory({ categoryName: 'child', parentSid: a.sid })).body;
    expectError(
      await svc.call('PUT', `/api/v1/category/${a.sid}/name-location`, { body: { parentSid: child.sid } }),
      '77102',
      /into itself or one of its sub-categories/,
    );
    expectError(await svc.call('PUT', `/api/v1/category/${a.sid}/name-location`, { body: { parentSid: a.sid } }), '77102', /into itself/);
    expectError(await svc.call('PUT', `/api/v1/category/${c.sid}/name-location`, { body: { categoryName: 'a' } }), '77102', /already exists/);
    expectError(await svc.call('PUT', `/api/v1/category/${a.sid}/name-location`, { body: {}, key: other }), '77103');
    expectError(await svc.call('PUT', '/api/v1/category/abc/name-location', { body: {} }), '77103');
  });

  it('deletes only an empty category (deleted templates count)', async () => {
    const cat = (await createCategory({ categoryName: uniq('full') })).body;
    const sub = (await createCategory({ categoryName: 'sub', parentSid: cat.sid })).body;
    expectError(await svc.call('DELETE', `/api/v1/category/${cat.sid}`), '77102', /holds 1 sub-categories and 0 templates/);
    const t = (await createTemplate(template({ categorySid: String(sub.sid) }))).body;
    await svc.call('DELETE', `/api/v1/template/${t.sid}`);
    expectError(await svc.call('DELETE', `/api/v1/category/${sub.sid}`), '77102', /0 sub-categories and 1 templates \(deleted ones included\)/);
    await svc.call('PUT', `/api/v1/template/${t.sid}/name-location`, { body: { templateName: t.name, parentSid: -1 } });
    expectError(await svc.call('DELETE', `/api/v1/category/${sub.sid}`, { key: other }), '77103');
    const deleted = await svc.call('DELETE', `/api/v1/category/${sub.sid}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ sid: sub.sid, parentSid: cat.sid, name: 'sub' });
    expect((await svc.call('DELETE', `/api/v1/category/${cat.sid}`)).status).toBe(200);
    expectError(await svc.call('DELETE', `/api/v1/category/${cat.sid}`), '77103');
  });
});

describe('templates', () => {
  it("creates a template with NCP's shape (201), in a category given as a string", async () => {
    const cat = (await createCategory({ categoryName: uniq('testCategory') })).body;
    const body = template({ categorySid: String(cat.sid), templateName: 'membershipTemplate', isUse: true });
    const res = await createTemplate(body);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      sid: expect.any(Number),
      createDate: NES,
      name: 'membershipTemplate',
      description: 'Example of creating a template',
      title: '[EN] Naver Cloud Platform',
      senderAddress: 'admin@master.com',
      senderName: 'Admin',
      body: 'Congratulations on your membership.',
      isUse: true,
      category: { sid: cat.sid, parentSid: -1, name: cat.name },
    });
    const got = await svc.call('GET', `/api/v1/template/${res.body.sid}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(res.body);
  });

  it('defaults: top level (category null), isUse true, optional fields null', async () => {
    const res = await createTemplate({ templateName: uniq('min'), title: 't', body: 'b', senderAddress: 'a@company.com' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ category: null, isUse: true, description: null, senderName: null });
    expect((await createTemplate(template({ categorySid: -1 }))).body.category).toBeNull();
    expect((await createTemplate(template({ isUse: false }))).body.isUse).toBe(false);
  });

  it.each([
    ['no templateName', { templateName: undefined }, /templateName: required/],
    ['a name starting with a space', { templateName: ' has space' }, /templateName: only Hangul/],
    ['a name ending with a space', { templateName: 'has space ' }, /templateName: only Hangul/],
    ['a name with a newline', { templateName: 'has\nnewline' }, /templateName: only Hangul/],
    ['a 101-character name', { templateName: 'a'.repeat(101) }, /templateName: at most 100 characters/],
    ['an empty title', { title: '' }, /title: required/],
    ['a 501-byte title', { title: '가'.repeat(167) }, /title: at most 500 bytes/],
    ['an empty body', { body: '' }, /body: required/],
    ['a body over 500 KB', { body: 'x'.repeat(500 * 1024 + 1) }, /body: at most 500 KB/],
    ['no senderAddress', { senderAddress: undefined }, /senderAddress: required/],
    ['a bad senderAddress', { senderAddress: 'not-an-address' }, /senderAddress: not a valid e-mail address/],
    ['a 72-byte senderName', { senderName: '가'.repeat(24) }, /senderName: at most 69 bytes/],
    ['a 301-byte description', { description: 'd'.repeat(301) }, /description: at most 300 bytes/],
    ['isUse "yes"', { isUse: 'yes' }, /isUse/],
    ['a numeric title', { title: 123 }, /title/],
  ])('refuses %s', async (_label, over, message) => {
    expectError(await createTemplate(template(over)), '77102', message);
  });

  it("answers 77103 for an unknown or another project's category", async () => {
    const theirs = (await createCategory({ categoryName: uniq('theirs') }, other)).body;
    expectError(await createTemplate(template({ categorySid: String(theirs.sid) })), '77103', /categorySid: category \d+ does not exist/);
    expectError(await createTemplate(template({ categorySid: '99999999' })), '77103');
  });

  it('updates a template (a full replacement, category unchanged)', async () => {
    const cat = (await createCategory({ categoryName: uniq('keep') })).body;
    const t = (await createTemplate(template({ categorySid: cat.sid }))).body;
    const res = await svc.call('PUT', `/api/v1/template/${t.sid}`, {
      body: {
        templateName: 'membershipTemplateKR',
        title: '[KO] Naver Cloud Platform',
        body: '회원 가입을 환영합니다.',
        senderAddress: 'admin@master.com',
        senderName: 'Admin',
        isUse: true,
      },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ...t, name: 'membershipTemplateKR', title: '[KO] Naver Cloud Platform', body: '회원 가입을 환영합니다.', description: null });
    expectError(await svc.call('PUT', `/api/v1/template/${t.sid}`, { body: { templateName: 'x' } }), '77102', /title: required/);
  });

  it('renames and moves a template (updateTemplateLocationOrName) with lowerSid ordering', async () => {
    const cat = (await createCategory({ categoryName: uniq('moveTo') })).body;
    const [t1, t2] = [(await createTemplate(template({ categorySid: cat.sid }))).body, (await createTemplate(template({ categorySid: cat.sid }))).body];
    const t3 = (await createTemplate(template())).body;
    const res = await svc.call('PUT', `/api/v1/template/${t3.sid}/name-location`, {
      body: { templateName: 'AD Template', parentSid: cat.sid, lowerSid: t1.sid },
    });
    expect(res.status).toBe(200);
    // NCP's own example name, with its space
    expect(res.body).toMatchObject({ sid: t3.sid, name: 'AD Template', category: { sid: cat.sid, parentSid: -1, name: cat.name } });
    const order = async () => find((await structure()).body.contents, cat.sid)!.templates.map((x) => x.sid);
    expect(await order()).toEqual([t3.sid, t1.sid, t2.sid]);
    // lowerSid that is not a sibling is ignored; without parentSid the template stays in place
    await svc.call('PUT', `/api/v1/template/${t2.sid}/name-location`, { body: { templateName: t2.name, lowerSid: 987654 } });
    expect(await order()).toEqual([t3.sid, t1.sid, t2.sid]);
    await svc.call('PUT', `/api/v1/template/${t2.sid}/name-location`, { body: { templateName: t2.name, lowerSid: t3.sid } });
    expect(await order()).toEqual([t2.sid, t3.sid, t1.sid]);
    // back to the top level
    const top = await svc.call('PUT', `/api/v1/template/${t1.sid}/name-location`, { body: { templateName: t1.name, parentSid: -1 } });
    expect(top.body.category).toBeNull();
    expectError(await svc.call('PUT', `/api/v1/template/${t1.sid}/name-location`, { body: { parentSid: -1 } }), '77102', /templateName: required/);
    expectError(await svc.call('PUT', `/api/v1/template/${t1.sid}/name-location`, { body: { templateName: 'x', parentSid: 99999999 } }), '77103');
  });

  it('deletes softly (isUse false) and restores', async () => {
    const t = (await createTemplate(template())).body;
    const deleted = await svc.call('DELETE', `/api/v1/template/${t.sid}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ ...t, isUse: false });
    expect((await svc.call('GET', `/api/v1/template/${t.sid}`)).body.isUse).toBe(false);
    const restored = await svc.call('PUT', `/api/v1/template/${t.sid}/restoration`);
    expect(restored.status).toBe(200);
    expect(restored.body).toEqual({ ...t, isUse: true });
  });

  it("answers 77103 for malformed, unknown and another project's template sids, on every operation", async () => {
    const theirs = (await createTemplate(template(), other)).body;
    for (const sid of [theirs.sid, 99999999, 'abc', 0]) {
      expectError(await svc.call('GET', `/api/v1/template/${sid}`), '77103', /templateSid: template .* does not exist/);
      expectError(await svc.call('PUT', `/api/v1/template/${sid}`, { body: template() }), '77103');
      expectError(await svc.call('PUT', `/api/v1/template/${sid}/name-location`, { body: { templateName: 'x' } }), '77103');
      expectError(await svc.call('DELETE', `/api/v1/template/${sid}`), '77103');
      expectError(await svc.call('PUT', `/api/v1/template/${sid}/restoration`), '77103');
    }
    expect((await svc.call('GET', `/api/v1/template/${theirs.sid}`, { key: other })).status).toBe(200);
  });
});

describe('getTemplateStructure', () => {
  it('shows the tree with subCategoris and templates; isUse=true leaves deleted templates out', async () => {
    const key = await svc.newKey(uniq('tree-project'));
    const ad = (await createCategory({ categoryName: 'AD' }, key)).body;
    const sub = (await createCategory({ categoryName: 'Sub', parentSid: ad.sid }, key)).body;
    const deep = (await createCategory({ categoryName: 'Deep', parentSid: sub.sid }, key)).body;
    const inAd = (await createTemplate(template({ categorySid: ad.sid }), key)).body;
    const inDeep = (await createTemplate(template({ categorySid: deep.sid }), key)).body;
    const top = (await createTemplate(template(), key)).body;
    const gone = (await createTemplate(template({ categorySid: ad.sid }), key)).body;
    await svc.call('DELETE', `/api/v1/template/${gone.sid}`, { key });

    const all = await structure('', key);
    expect(all.status).toBe(200);
    const leaf = (t: { sid: number; name: string }, parentSid: number, isUse = true) => ({
      sid: t.sid,
      parentSid,
      createDate: NES,
      name: t.name,
      isCategory: false,
      isUse,
      subCategoris: [],
      templates: [],
    });
    expect(all.body).toEqual({
      contents: [
        {
          sid: ad.sid,
          parentSid: -1,
          createDate: NES,
          name: 'AD',
          isCategory: true,
          isUse: true,
          subCategoris: [
            {
              sid: sub.sid,
              parentSid: ad.sid,
              createDate: NES,
              name: 'Sub',
              isCategory: true,
              isUse: true,
              subCategoris: [
                {
                  sid: deep.sid,
                  parentSid: sub.sid,
                  createDate: NES,
                  name: 'Deep',
                  isCategory: true,
                  isUse: true,
                  subCategoris: [],
                  templates: [leaf(inDeep, deep.sid)],
                },
              ],
              templates: [],
            },
          ],
          templates: [leaf(inAd, ad.sid), leaf(gone, ad.sid, false)],
        },
        leaf(top, -1),
      ],
    });
    expect((await structure('?isUse=false', key)).body).toEqual(all.body);
    const inUse = await structure('?isUse=true', key);
    expect(find(inUse.body.contents, gone.sid)).toBeUndefined();
    expect(find(inUse.body.contents, inAd.sid)).toBeDefined();
    // another project sees none of it
    expect(find((await structure()).body.contents, ad.sid)).toBeUndefined();
  });
});

describe('backups: export and import', () => {
  it('exports asynchronously, lists the request, downloads the file, and imports it into another project', async () => {
    const key = await svc.newKey(uniq('backup-source'));
    const cat = (await createCategory({ categoryName: '광고' }, key)).body;
    const sub = (await createCategory({ categoryName: 'Sub', parentSid: cat.sid }, key)).body;
    await createTemplate(template({ templateName: 'first', categorySid: sub.sid, title: '제목 ${NAME}', senderName: '관리자' }), key);
    await createTemplate(template({ templateName: 'second', categorySid: cat.sid, isUse: false }), key);
    await createTemplate(template({ templateName: 'top' }), key);

    const requested = await svc.call('POST', '/api/v1/template/export/request', { key });
    expect(requested.status).toBe(200);
    expect(requested.body).toEqual({ sid: expect.any(Number) });
    const row = await waitFor(
      async () => {
        const list = await svc.call('GET', '/api/v1/template/export', { key });
        const item = list.body.content?.find((x: { sid: number }) => x.sid === requested.body.sid);
        return item?.statusCode.code === 'C' ? { list: list.body, item } : undefined;
      },
      15_000,
      'the backup to complete',
    );
    expect(row.item).toEqual({
      sid: requested.body.sid,
      projectSid: expect.any(Number),
      requestUtc: NES,
      completeUtc: NES,
      elapsedTime: expect.stringMatching(/^\d{2,}:\d{2}:\d{2}\.\d{3}$/),
      statusCode: { label: 'Completed', code: 'C' },
      downloadUrl: `${svc.config.publicBaseUrl}/api/v1/template/export/${requested.body.sid}`,
    });
    expect(row.list).toMatchObject({ totalElements: 1, number: 0, size: 10, first: true, last: true });
    const ko = await svc.call('GET', '/api/v1/template/export?sort=sid,asc', { key, headers: { 'x-ncp-lang': 'ko-KR' } });
    expect(ko.body.content[0].statusCode).toEqual({ label: '완료', code: 'C' });

    const file = await asFile(svc.call('GET', `/api/v1/template/export/${requested.body.sid}`, { key }));
    expect(file.status).toBe(200);
    expect(file.headers['content-type']).toMatch(/^application\/octet-stream/);
    expect(file.headers['content-disposition']).toMatch(/^attachment; filename="template_\d{14}\.json"/);
    const backup = file.body as Buffer;
    expect(JSON.parse(backup.toString('utf8'))).toMatchObject({ format: 'outbound-mailer-templates', version: 1 });
    expectError(await svc.call('GET', `/api/v1/template/export/${requested.body.sid}`), '77103');

    const target = await svc.newKey(uniq('backup-target'));
    const imported = await svc.call('POST', '/api/v1/template/import', { key: target }).attach('file', backup, 'template.json');
    expect(imported.status).toBe(201);
    const source = (await structure('', key)).body;
    const strip = (nodes: Node[]): unknown =>
      nodes.map((x) => ({ name: x.name, isCategory: x.isCategory, isUse: x.isUse, subCategoris: strip(x.subCategoris), templates: strip(x.templates) }));
    expect(strip(imported.body.contents)).toEqual(strip(source.contents));
    const firstCopy = find(imported.body.contents, imported.body.contents[0].subCategoris[0].templates[0].sid)!;
    const copied = await svc.call('GET', `/api/v1/template/${firstCopy.sid}`, { key: target });
    expect(copied.body).toMatchObject({ name: 'first', title: '제목 ${NAME}', senderName: '관리자', category: { name: 'Sub' } });

    // importing again merges the categories and adds the templates once more
    const again = await svc.call('POST', '/api/v1/template/import', { key: target }).attach('file', backup, 'template.json');
    expect(again.status).toBe(201);
    expect(again.body.contents.filter((x: Node) => x.isCategory)).toHaveLength(1);
    expect(again.body.contents[0].templates).toHaveLength(2);
  });

  it('refuses invalid backups and imports nothing', async () => {
    const key = await svc.newKey(uniq('bad-import'));
    const imp = (content: string | Buffer) => svc.call('POST', '/api/v1/template/import', { key }).attach('file', Buffer.from(content), 'b.json');
    const good = { format: 'outbound-mailer-templates', version: 1, categories: [{ sid: 1, parentSid: -1, name: 'c' }], templates: [] as unknown[] };
    expectError(await imp('not json'), '77102', /not valid JSON/);
    expectError(await imp(JSON.stringify({ ...good, format: 'x' })), '77102', /not a template backup/);
    expectError(await imp(JSON.stringify({ ...good, version: 9 })), '77102', /version 9/);
    expectError(
      await imp(JSON.stringify({ ...good, categories: [{ sid: 1, parentSid: 5, name: 'c' }] })),
      '77102',
      /categories\[0\]\.parentSid: category 5 is not in the backup/,
    );
    expectError(await imp(JSON.stringify({ ...good, categories: [{ sid: 1, parentSid: -1, name: 'bad name ' }] })), '77102', /categories\[0\]\.name/);
    const badTemplate = { sid: 2, categorySid: 1, name: 'ok', title: 't', body: 'b', senderAddress: 'nope', isUse: true };
    expectError(await imp(JSON.stringify({ ...good, templates: [badTemplate] })), '77102', /templates\[0\]\.senderAddress: not a valid e-mail address/);
    expectError(await svc.call('POST', '/api/v1/template/import', { key }).field('other', 'x'), '77102', /file: required/);
    expect((await structure('', key)).body.contents).toEqual([]);
  });

  it('takes the export request with the JSON content type and an empty body that clients send', async () => {
    const res = await svc.call('POST', '/api/v1/template/export/request', { body: {} });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ sid: expect.any(Number) });
    expect((await svc.call('POST', '/api/v1/template/export/request', { headers: { 'Content-Type': 'application/json' } })).status).toBe(200);
  });

  it('answers 77103 for an unknown export and 77102 for one not ready', async () => {
    expectError(await svc.call('GET', '/api/v1/template/export/99999999'), '77103');
    expectError(await svc.call('GET', '/api/v1/template/export/abc'), '77103');
    const [row] = (
      await sql<{ sid: string }>`INSERT INTO template_exports (project_id, status) VALUES (${svc.key.projectId}, 'I') RETURNING sid`.execute(svc.db.db)
    ).rows;
    expectError(await svc.call('GET', `/api/v1/template/export/${row!.sid}`), '77102', /not ready yet/);
  });
});

describe('templateSid on createMailRequest', () => {
  const mail = (over: Record<string, unknown>, key?: CreatedKey) =>
    svc.call('POST', '/api/v1/mails', { key, body: { recipients: [{ address: 'kim@example.com', name: '김철수', parameters: { NAME: '철수' } }], ...over } });

  it("takes sender, title and body from the template, ignoring the request's own, and shows templateSid/templateName everywhere", async () => {
    const t = (
      await createTemplate(
        template({
          templateName: '회원가입_안내',
          title: '${NAME}님 환영합니다',
          body: '<p>#{RECIPIENT_NAME}님, 가입을 축하합니다.</p>',
          senderAddress: 'welcome@company.com',
          senderName: '고객센터',
        }),
      )
    ).body;
    const res = await mail({ templateSid: t.sid, senderAddress: 'ignored@other.com', senderName: 'Ignored', title: 'ignored', body: 'ignored' });
    expect(res.status).toBe(201);
    const [received] = await sink.waitForMessages(1);
    const parsed = await simpleParser(received!.raw);
    expect(parsed.subject).toBe('철수님 환영합니다');
    expect(parsed.from?.value[0]).toEqual({ address: 'welcome@company.com', name: '고객센터' });
    expect(parsed.html).toContain('김철수님, 가입을 축하합니다.');
    expect(received!.from).toBe('welcome@company.com');

    const listed = await svc.call('GET', `/api/v1/mails/requests?requestId=${res.body.requestId}`);
    expect(listed.body.content[0]).toMatchObject({
      templateSid: t.sid,
      templateName: '회원가입_안내',
      senderAddress: 'welcome@company.com',
      senderName: '고객센터',
    });
    const filtered = await svc.call('GET', `/api/v1/mails/requests?templateSid=${t.sid}`);
    expect(filtered.body.content.map((r: { requestId: string }) => r.requestId)).toEqual([res.body.requestId]);
    expect((await svc.call('GET', `/api/v1/mails/requests?templateSid=${t.sid + 100000}`)).body.content).toEqual([]);
    const mails = await svc.call('GET', `/api/v1/mails/requests/${res.body.requestId}/mails`);
    expect(mails.body.content[0]).toMatchObject({ templateSid: t.sid, templateName: '회원가입_안내', title: '철수님 환영합니다' });
    const one = await svc.call('GET', `/api/v1/mails/${mails.body.content[0].mailId}`);
    expect(one.body).toMatchObject({
      templateSid: t.sid,
      templateName: '회원가입_안내',
      title: '철수님 환영합니다',
      body: '<p>김철수님, 가입을 축하합니다.</p>',
    });
  });

  it('keeps the name the template had when the request was made', async () => {
    const t = (await createTemplate(template({ templateName: 'before' }))).body;
    const res = await mail({ templateSid: t.sid });
    await svc.call('PUT', `/api/v1/template/${t.sid}/name-location`, { body: { templateName: 'after' } });
    const listed = await svc.call('GET', `/api/v1/mails/requests?requestId=${res.body.requestId}`);
    expect(listed.body.content[0].templateName).toBe('before');
  });

  it("refuses an unknown template and another project's (400/77103), and a deleted one (400/77102, saying so)", async () => {
    const theirs = (await createTemplate(template(), other)).body;
    expectError(await mail({ templateSid: 99999999 }), '77103', /templateSid: template 99999999 does not exist/);
    expectError(await mail({ templateSid: theirs.sid }), '77103', /templateSid: template \d+ does not exist/);
    const t = (await createTemplate(template({ templateName: 'soonGone' }))).body;
    await svc.call('DELETE', `/api/v1/template/${t.sid}`);
    expectError(await mail({ templateSid: t.sid }), '77102', /templateSid: template \d+ \("soonGone"\) is deleted \(isUse: false\)/);
    await svc.call('PUT', `/api/v1/template/${t.sid}/restoration`);
    expect((await mail({ templateSid: t.sid })).status).toBe(201);
    // without a template the request's own fields are required as before
    expectError(await mail({}), '77102', /senderAddress: required when templateSid is not given/);
  });
});
