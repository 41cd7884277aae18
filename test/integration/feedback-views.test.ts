import { beforeAll, describe, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import type { CreatedKey } from '../../src/modules/projects/projects.service.ts';
import { countQuery, orderedIds } from '../../src/modules/mails/recipients.read-model.ts';
import { parseViewFilters } from '../../src/modules/mails/view-rows.ts';
import { toNesDateTime } from '../../src/shared/clock.ts';
import { expectError, asFile } from '../helpers/responses.ts';
import { seedSentHistory } from '../helpers/seed-rows.ts';
import { finishedRequestRow, waitFor } from '../helpers/test-service.ts';
import { useTestService } from '../helpers/use-test-service.ts';
import { readXlsx } from '../helpers/xlsx-sheet.ts';

/**
 * Bounces and complaints as the views show them (issue 15 item 5): the recipient view's and the
 * mail detail's fields, the bounceType / complained filters on the recipient, mail and request
 * views (and a 400 for a bad value), the .xlsx export's columns, and plans on a seeded history
 * that read the partial indexes instead of every recipient. The inbound listener that fills the
 * columns is not on this branch: mails go to the sink for real, then the columns are set by SQL.
 */

const { svc } = useTestService();
let other: CreatedKey;

const LIST = '/api/v1/mails/recipients';
let alphaId: string;
let betaId: string;
let otherId: string;
const HARD_AT = new Date('2026-12-01T03:04:05.678Z');
const SOFT_AT = new Date('2026-12-02T10:00:00.001Z');
const COMPLAINED_AT = new Date('2026-12-03T23:59:59.999Z');

async function create(body: Record<string, unknown>, key?: CreatedKey): Promise<string> {
  const res = await svc.call('POST', '/api/v1/mails', { body, key });
  expect(res.status).toBe(201);
  return res.body.requestId as string;
}

async function ok(target: string, opts: { key?: CreatedKey; headers?: Record<string, string> } = {}) {
  const res = await svc.call('GET', target, opts);
  expect({ status: res.status, error: res.body.error }).toEqual({ status: 200, error: undefined });
  return res.body;
}

const addresses = (page: { content: { address: string }[] }) => page.content.map((r) => r.address);
const recipients = async (query: string, key?: CreatedKey) => addresses(await ok(`${LIST}?${query}`, { key }));
const nes = (d: Date) => toNesDateTime(d, svc.config.displayTimezone);

/** What the inbound listener will record, set directly. */
async function setFeedback(address: string, set: Record<string, unknown>, key: CreatedKey = svc.key) {
  const res = await svc.db.db.updateTable('recipients').set(set).where('address', '=', address).where('project_id', '=', key.projectId).executeTakeFirst();
  expect(Number(res.numUpdatedRows)).toBeGreaterThan(0);
}

beforeAll(async () => {
  other = await svc.newKey('other');
  alphaId = await create({
    senderAddress: 'alpha@company.com',
    title: 'Alpha',
    body: '<p>alpha</p>',
    recipients: [{ address: 'hard@example.com' }, { address: 'soft@example.com' }, { address: 'plain@example.com' }],
  });
  betaId = await create({
    senderAddress: 'beta@company.com',
    title: 'Beta',
    body: '<p>beta</p>',
    recipients: [{ address: 'complain@example.com' }, { address: 'both@example.com' }],
  });
  otherId = await create({ senderAddress: 'alpha@company.com', title: 'Other', body: '<p>x</p>', recipients: [{ address: 'hard@example.com' }] }, other);
  await Promise.all([finishedRequestRow(svc, alphaId), finishedRequestRow(svc, betaId), finishedRequestRow(svc, otherId, { key: other })]);

  // A hard bounce turns the recipient into a failure; a soft one is only recorded.
  await setFeedback('hard@example.com', {
    bounce_type: 'H',
    bounce_status: '5.1.1',
    bounce_message: 'smtp; 550 5.1.1 <hard@example.com>: user unknown',
    bounced_at: HARD_AT,
    status: 'F',
    result_code: 'RECIPIENT_ADDRESS_ERROR',
  });
  await setFeedback('soft@example.com', { bounce_type: 'S', bounce_status: '4.2.2', bounce_message: 'smtp; 452 4.2.2 mailbox full', bounced_at: SOFT_AT });
  await setFeedback('complain@example.com', { complaint_type: 'abuse', complained_at: COMPLAINED_AT });
  await setFeedback('both@example.com', {
    bounce_type: 'S',
    bounce_status: '4.7.1',
    bounce_message: 'greylisted',
    bounced_at: SOFT_AT,
    complaint_type: 'fraud',
    complained_at: COMPLAINED_AT,
  });
}, 40_000);

describe('recipient view and mail detail fields', () => {
  it('shows the bounce and the complaint of a recipient, dates formatted as the other dates', async () => {
    const [hard] = (await ok(`${LIST}?recipientAddress=hard@example.com`)).content;
    expect(hard).toMatchObject({
      emailStatus: { code: 'F' },
      sendResultCode: 'RECIPIENT_ADDRESS_ERROR',
      bounceType: { label: 'Hard bounce', code: 'HARD' },
      bounceStatus: '5.1.1',
      bounceMessage: 'smtp; 550 5.1.1 <hard@example.com>: user unknown',
      bounceDate: nes(HARD_AT),
      complaintType: null,
      complaintDate: null,
    });
    expect(Object.keys(hard.bounceDate).sort()).toEqual(Object.keys(hard.receivedDate).sort());

    const [both] = (await ok(`${LIST}?recipientAddress=both@example.com`)).content;
    expect(both).toMatchObject({
      emailStatus: { code: 'S' },
      bounceType: { label: 'Soft bounce', code: 'SOFT' },
      bounceStatus: '4.7.1',
      bounceMessage: 'greylisted',
      bounceDate: nes(SOFT_AT),
      complaintType: 'fraud',
      complaintDate: nes(COMPLAINED_AT),
    });

    const [plain] = (await ok(`${LIST}?recipientAddress=plain@example.com`)).content;
    expect(plain).toMatchObject({ bounceType: null, bounceStatus: null, bounceMessage: null, bounceDate: null, complaintType: null, complaintDate: null });
  });

  it('localises the bounce type label by x-ncp-lang', async () => {
    const label = async (lang: string, address: string) =>
      (await ok(`${LIST}?recipientAddress=${address}`, { headers: { 'x-ncp-lang': lang } })).content[0].bounceType;
    expect(await label('ko-KR', 'hard@example.com')).toEqual({ label: '하드 바운스', code: 'HARD' });
    expect(await label('ja-JP', 'hard@example.com')).toEqual({ label: 'ハードバウンス', code: 'HARD' });
    expect(await label('ko-KR', 'soft@example.com')).toEqual({ label: '소프트 바운스', code: 'SOFT' });
    expect(await label('ja-JP', 'soft@example.com')).toEqual({ label: 'ソフトバウンス', code: 'SOFT' });
  });

  it('getMail shows each recipient with its bounce and complaint', async () => {
    const rows = (await ok(`${LIST}?requestId=${alphaId}`)).content as { address: string; mailId: string }[];
    const byAddress = Object.fromEntries(rows.map((r) => [r.address, r.mailId]));
    const hard = (await ok(`/api/v1/mails/${byAddress['hard@example.com']}`, { headers: { 'x-ncp-lang': 'ja-JP' } })).recipients;
    expect(hard).toEqual([
      expect.objectContaining({
        address: 'hard@example.com',
        bounceType: { label: 'ハードバウンス', code: 'HARD' },
        bounceStatus: '5.1.1',
        bounceMessage: 'smtp; 550 5.1.1 <hard@example.com>: user unknown',
        bounceDate: nes(HARD_AT),
        complaintType: null,
        complaintDate: null,
      }),
    ]);
    const plain = (await ok(`/api/v1/mails/${byAddress['plain@example.com']}`)).recipients[0];
    expect(plain).toMatchObject({ bounceType: null, bounceStatus: null, bounceMessage: null, bounceDate: null, complaintType: null, complaintDate: null });

    const betaRows = (await ok(`${LIST}?requestId=${betaId}`)).content as { address: string; mailId: string }[];
    const complainMail = betaRows.find((r) => r.address === 'complain@example.com')!.mailId;
    expect((await ok(`/api/v1/mails/${complainMail}`)).recipients[0]).toMatchObject({
      complaintType: 'abuse',
      complaintDate: nes(COMPLAINED_AT),
      bounceType: null,
    });
  });
});

describe('bounceType and complained filters', () => {
  it('narrow the recipient view, newest request first, alone or with other filters', async () => {
    expect(await recipients('bounceType=HARD')).toEqual(['hard@example.com']);
    expect(await recipients('bounceType=soft')).toEqual(['both@example.com', 'soft@example.com']);
    expect(await recipients('bounceType=ANY')).toEqual(['both@example.com', 'soft@example.com', 'hard@example.com']);
    expect(await recipients('complained=true')).toEqual(['both@example.com', 'complain@example.com']);
    expect(await recipients('bounceType=ANY&complained=true')).toEqual(['both@example.com']);
    expect(await recipients('bounceType=HARD&complained=true')).toEqual([]);
    expect(await recipients(`bounceType=ANY&requestId=${alphaId}`)).toEqual(['soft@example.com', 'hard@example.com']);
    expect(await recipients('bounceType=ANY&sendStatus=F')).toEqual(['hard@example.com']);
    expect(await recipients('bounceType=ANY&sendResultCode=MAIL_SENT')).toEqual(['both@example.com', 'soft@example.com']);
    expect(await recipients('bounceType=ANY&senderAddress=beta@company.com')).toEqual(['both@example.com']);
    expect(await recipients('complained=true&recipientAddress=complain@example.com')).toEqual(['complain@example.com']);
    // another order than the default (all matching rows sorted)
    expect(await recipients('bounceType=ANY&sort=statusCode,asc')).toEqual(['hard@example.com', 'soft@example.com', 'both@example.com']);
    const page = await ok(`${LIST}?bounceType=ANY&size=2`);
    expect(page).toMatchObject({ totalElements: 3, totalPages: 2, numberOfElements: 2, last: false });
  });

  it("see only the project's own recipients", async () => {
    expect(await recipients('bounceType=ANY', other)).toEqual([]);
    await setFeedback('hard@example.com', { bounce_type: 'H', bounced_at: HARD_AT }, other);
    expect(await recipients('bounceType=HARD', other)).toEqual(['hard@example.com']);
    expect((await ok(`${LIST}?bounceType=HARD`, { key: other })).content[0].requestId).toBe(otherId);
    expect(await recipients('bounceType=HARD')).toEqual(['hard@example.com']);
  });

  it('narrow the mail view to mails with such a recipient, and the request view to requests with one', async () => {
    const mails = async (query: string) =>
      ((await ok(`/api/v1/mails/requests/${alphaId}/mails?${query}`)).content as { representativeRecipient: string }[]).map((m) => m.representativeRecipient);
    expect(await mails('bounceType=HARD')).toEqual(['hard@example.com']);
    expect(await mails('bounceType=ANY')).toEqual(['hard@example.com', 'soft@example.com']);
    expect(await mails('complained=true')).toEqual([]);

    const requests = async (query: string) => ((await ok(`/api/v1/mails/requests?${query}`)).content as { requestId: string }[]).map((r) => r.requestId);
    expect(await requests('complained=true')).toEqual([betaId]);
    expect(await requests('bounceType=HARD')).toEqual([alphaId]);
    expect(await requests('bounceType=SOFT')).toEqual([betaId, alphaId]);
    expect(await requests('bounceType=ANY&complained=true')).toEqual([betaId]);
    expect(await requests('bounceType=HARD&complained=true')).toEqual([]);
  });

  it('answer 400 naming the field for a bad value, on every view', async () => {
    expectError(await svc.call('GET', `${LIST}?bounceType=MAYBE`), '77102', 'bounceType');
    expectError(await svc.call('GET', `${LIST}?bounceType=H`), '77102', 'bounceType');
    expectError(await svc.call('GET', `${LIST}?complained=false`), '77102', 'complained');
    expectError(await svc.call('GET', `${LIST}?complained=yes`), '77102', 'complained');
    expectError(await svc.call('GET', `/api/v1/mails/requests?bounceType=hardest`), '77102', 'bounceType');
    expectError(await svc.call('GET', `/api/v1/mails/requests/${alphaId}/mails?complained=false`), '77102', 'complained');
    expectError(await svc.call('POST', '/api/v1/exports', { body: { view: 'recipients', filters: { bounceType: 'X' } } }), '77102', 'filters.bounceType');
    expectError(await svc.call('POST', '/api/v1/exports', { body: { view: 'recipients', filters: { complained: false } } }), '77102', 'filters.complained');
  });
});

describe('the recipients .xlsx export', () => {
  async function exported(filters: Record<string, unknown>, lang: string) {
    const res = await svc.call('POST', '/api/v1/exports', { body: { view: 'recipients', filters }, headers: { 'x-ncp-lang': lang } });
    expect(res.status).toBe(202);
    const exportId = res.body.exportId as string;
    await waitFor(
      async () => {
        const e = ((await svc.call('GET', '/api/v1/exports?size=100')).body.content as any[]).find((x) => x.exportId === exportId);
        return e && e.status.code === 'C';
      },
      30_000,
      `export ${exportId}`,
    );
    const file = await asFile(svc.call('GET', `/api/v1/exports/${exportId}/file`));
    return (await readXlsx(file.body as Buffer)).sheets[0]!;
  }

  it('has bounce and complaint columns with localised headers, filtered by bounceType / complained', async () => {
    const [header, ...rows] = await exported({ bounceType: 'ANY' }, 'ja-JP');
    const cols = ['バウンス種別', 'バウンスステータス', 'バウンスメッセージ', 'バウンス日時', '苦情の種別', '苦情日時'];
    for (const c of cols) expect(header).toContain(c);
    const byAddress = new Map(rows.map((r) => [r[header!.indexOf('アドレス')], r]));
    expect([...byAddress.keys()]).toEqual(['both@example.com', 'soft@example.com', 'hard@example.com']);
    const cells = (address: string) => cols.map((c) => byAddress.get(address)![header!.indexOf(c)] ?? '');
    expect(cells('hard@example.com')).toEqual([
      'ハードバウンス',
      '5.1.1',
      'smtp; 550 5.1.1 <hard@example.com>: user unknown',
      nes(HARD_AT)!.formattedDateTime,
      '',
      '',
    ]);
    expect(cells('both@example.com')).toEqual([
      'ソフトバウンス',
      '4.7.1',
      'greylisted',
      nes(SOFT_AT)!.formattedDateTime,
      'fraud',
      nes(COMPLAINED_AT)!.formattedDateTime,
    ]);

    const [enHeader, ...complained] = await exported({ complained: true }, 'en-US');
    expect(enHeader).toEqual(expect.arrayContaining(['Bounce type', 'Bounce status', 'Bounce message', 'Bounce date', 'Complaint type', 'Complaint date']));
    expect(complained.map((r) => r[enHeader!.indexOf('Address')])).toEqual(['both@example.com', 'complain@example.com']);
    expect(complained.map((r) => r[enHeader!.indexOf('Complaint type')])).toEqual(['fraud', 'abuse']);

    const [koHeader] = await exported({ complained: 'true', bounceType: 'hard' }, 'ko-KR');
    expect(koHeader).toEqual(expect.arrayContaining(['반송 유형', '반송 상태 코드', '반송 메시지', '반송 일시', '스팸 신고 유형', '스팸 신고 일시']));
  });
});

describe('plans on a seeded history', () => {
  it('read the partial indexes, not every recipient', async () => {
    const hist = await svc.newKey('history');
    await seedSentHistory(svc.db.pool, { projectId: hist.projectId, recipients: 60_000, perRequest: 20_000 });
    await sql`UPDATE recipients SET bounce_type = CASE WHEN (id / 1000) % 2 = 0 THEN 'H' ELSE 'S' END, bounced_at = now()
      WHERE project_id = ${hist.projectId}::bigint AND id % 1000 = 0`.execute(svc.db.db);
    await sql`UPDATE recipients SET complaint_type = 'abuse', complained_at = now() WHERE project_id = ${hist.projectId}::bigint AND id % 1500 = 1`.execute(
      svc.db.db,
    );
    await sql`ANALYZE recipients`.execute(svc.db.db);

    // the month the history is in: recipients are partitioned by month of created_at
    const now = new Date();
    const month = `recipients_p${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
    const plan = async (query: Record<string, string>, which: 'page' | 'count') => {
      const f = parseViewFilters('recipients', query, { timeZone: svc.config.displayTimezone, now: new Date() });
      const q = which === 'page' ? orderedIds(hist.projectId, f, 'DESC', 11, 0) : countQuery(hist.projectId, f, 10_001);
      const { rows } = await sql<{ 'QUERY PLAN': string }>`EXPLAIN ${q}`.execute(svc.db.db);
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    };
    for (const which of ['page', 'count'] as const) {
      for (const [query, index] of [
        [{ bounceType: 'ANY' }, 'recipients_bounced'],
        [{ bounceType: 'HARD' }, 'recipients_bounced'],
        [{ complained: 'true' }, 'recipients_complained'],
      ] as const) {
        const text = await plan(query, which);
        // (the empty months ahead are read whole: nothing to read)
        expect({ query, which, usesIndex: text.includes(index), seqScan: new RegExp(`Seq Scan on ${month} `).test(text) }).toEqual({
          query,
          which,
          usesIndex: true,
          seqScan: false,
        });
      }
    }
    // and the answers from those plans
    const page = await ok(`${LIST}?bounceType=HARD&size=5`, { key: hist });
    expect(page.content).toHaveLength(5);
    expect(page.content.every((r: { bounceType: { code: string } }) => r.bounceType.code === 'HARD')).toBe(true);
    const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM recipients WHERE project_id = ${hist.projectId}::bigint AND bounce_type = 'H'`.execute(
      svc.db.db,
    );
    expect(Number(rows[0]!.n)).toBeGreaterThan(5);
    expect(page.totalElements).toBe(Number(rows[0]!.n));
  }, 60_000);
});
