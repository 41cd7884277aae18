import { beforeAll, describe, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import { simpleParser } from 'mailparser';
import { createLogger } from '../../src/logger.ts';
import { storeRecipients } from '../../src/modules/requests/requests.service.ts';
import { GROUP_STORE_BATCH } from '../../src/modules/requests/store-from-groups.ts';
import { waitFor, type TestService } from '../helpers/test-service.ts';
import { useTestService } from '../helpers/use-test-service.ts';
import { expectError } from '../helpers/responses.ts';

/** createMailRequest with recipientGroupFilter (NCP's address-book groups as recipients): AND/OR expansion, delivery, cancel, resume. */

const { svc, sink } = useTestService({ resetSinkAfterEach: true });
/** no workers: requests stay in P until a test runs the job itself */
const { svc: idle } = useTestService({ sink, workers: false });

beforeAll(async () => {
  const book = await svc.call('POST', '/api/v1/address-book', {
    body: {
      groups: [
        { groupName: 'g1', emailAddresses: ['a@example.com', 'Shared1@Example.com', 'b@example.com', 'shared2@example.com'] },
        { groupName: 'g2', emailAddresses: ['SHARED1@example.com', 'shared2@example.com', 'c@example.com'] },
        { groupName: 'g3', emailAddresses: ['d@example.com'] },
        { groupName: 'empty' },
      ],
    },
  });
  expect(book.status).toBe(201);
});

const mail = (filter: unknown, over: Record<string, unknown> = {}, on: TestService = svc) =>
  on.call('POST', '/api/v1/mails', {
    body: {
      senderAddress: 'news@company.com',
      title: 'Hello ${NAME}',
      body: '<p>to #{RECIPIENT_ADDRESS} from ${NAME}</p>',
      parameters: { NAME: 'Shop' },
      recipientGroupFilter: filter,
      ...over,
    },
  });

async function requestRow(requestId: string, on: TestService = svc) {
  const res = await on.call('GET', `/api/v1/mails/requests?requestId=${requestId}`);
  expect(res.status).toBe(200);
  return res.body.content[0] as { emailStatus: { code: string }; requestCount: number };
}

async function finished(requestId: string) {
  return waitFor(
    async () => {
      const row = await requestRow(requestId);
      return ['S', 'F', 'PF'].includes(row.emailStatus.code) ? row : undefined;
    },
    20_000,
    `request ${requestId} to finish`,
  );
}

async function delivered(n: number) {
  const messages = await sink.waitForMessages(n, 15_000);
  await new Promise((r) => setTimeout(r, 300)); // nothing more arrives
  expect(sink.messages).toHaveLength(n);
  return Promise.all(messages.map(async (m) => ({ to: m.to, parsed: await simpleParser(m.raw) })));
}

const count = async (on: TestService, table: 'mail_requests' | 'mails' | 'recipients') =>
  Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM ${sql.table(table)}`.execute(on.db.db)).rows[0]!.n);

describe('sending to address-book groups', () => {
  it('AND sends one mail to each address in every group (case variants are one address), with meta tags and request parameters', async () => {
    const res = await mail({ andFilter: true, groups: ['g1', 'g2'] });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ requestId: expect.stringMatching(/^\d{20}$/), count: 2 });
    const row = await finished(res.body.requestId);
    expect(row).toMatchObject({ emailStatus: { code: 'S' }, requestCount: 2 });
    const got = await delivered(2);
    // (the SMTP envelope carries the domain in lower case; the stored recipient keeps the first spelling)
    expect(got.map((m) => m.to).sort()).toEqual([['Shared1@example.com'], ['shared2@example.com']]);
    const stored = await sql<{
      address: string;
    }>`SELECT address FROM recipients WHERE request_id = ${String(BigInt(res.body.requestId.slice(8)))} ORDER BY address`.execute(svc.db.db);
    expect(stored.rows.map((r) => r.address)).toEqual(['Shared1@Example.com', 'shared2@example.com']);
    for (const m of got) {
      expect(m.parsed.subject).toBe('Hello Shop');
      expect(String(m.parsed.html).toLowerCase()).toContain(`to ${m.to[0]!.toLowerCase()} from shop`);
    }
  });

  it('OR sends to every address of any group exactly once', async () => {
    const res = await mail({ andFilter: false, groups: ['g1', 'g2', 'g3', 'empty'] });
    expect(res.status).toBe(201);
    expect(res.body.count).toBe(6);
    await finished(res.body.requestId);
    const got = await delivered(6);
    expect(got.map((m) => m.to[0]).sort()).toEqual([
      'Shared1@example.com',
      'a@example.com',
      'b@example.com',
      'c@example.com',
      'd@example.com',
      'shared2@example.com',
    ]);
    const status = await svc.call('GET', `/api/v1/mails/requests/${res.body.requestId}/status`);
    expect(status.body).toMatchObject({ requestCount: 6, sentCount: 6, finishCount: 6 });
  });

  it('a group named twice counts once; a single group works with either andFilter', async () => {
    const res = await mail({ andFilter: true, groups: ['g3', 'g3'] });
    expect(res.body.count).toBe(1);
    await finished(res.body.requestId);
    expect((await delivered(1))[0]!.to).toEqual(['d@example.com']);
  });

  it('confirmAndSend keeps the stored request in R until it is sent now', async () => {
    const res = await mail({ andFilter: false, groups: ['g2'] }, { confirmAndSend: true });
    expect(res.body.count).toBe(3);
    await waitFor(async () => (await requestRow(res.body.requestId)).emailStatus.code === 'R', 10_000, 'request to be ready');
    expect(sink.messages).toHaveLength(0);
    expect((await svc.call('POST', `/api/v1/mails/requests/${res.body.requestId}/send`)).status).toBe(200);
    await finished(res.body.requestId);
    expect((await delivered(3)).map((m) => m.to[0]).sort()).toEqual(['Shared1@example.com', 'c@example.com', 'shared2@example.com']);
  });
});

describe('refused filters leave nothing behind', () => {
  it.each([
    ['general mode', { andFilter: true, groups: ['g1'] }, { individual: false, body: '<p>hi</p>' }, '77102', /recipientGroupFilter: .*individual/],
    [
      'recipients as well',
      { andFilter: true, groups: ['g1'] },
      { recipients: [{ address: 'x@example.com' }] },
      '77102',
      /recipients: not allowed together with recipientGroupFilter/,
    ],
    ['an unknown group', { andFilter: true, groups: ['g1', 'nope'] }, {}, '77103', /recipientGroupFilter\.groups: group "nope" does not exist/],
    ['six groups', { andFilter: false, groups: ['g1', 'g2', 'g3', 'a', 'b', 'c'] }, {}, '77102', /recipientGroupFilter\.groups/],
    ['no andFilter', { groups: ['g1'] }, {}, '77102', /recipientGroupFilter\.andFilter/],
    ['andFilter as a string', { andFilter: 'true', groups: ['g1'] }, {}, '77102', /recipientGroupFilter\.andFilter/],
    ['no groups', { andFilter: true, groups: [] }, {}, '77102', /recipientGroupFilter\.groups/],
    ['a malformed group name', { andFilter: true, groups: ['g 1'] }, {}, '77102', /recipientGroupFilter\.groups\[0\]/],
    [
      'a filter that selects nobody',
      { andFilter: true, groups: ['g1', 'g3'] },
      {},
      '77102',
      /recipientGroupFilter: the groups "g1" and "g3" select no address/,
    ],
    ['only empty groups', { andFilter: false, groups: ['empty'] }, {}, '77102', /select no address/],
  ] as const)('%s', async (_name, filter, over, code, message) => {
    const before = await count(svc, 'mail_requests');
    expectError(await mail(filter, over), code, message);
    expect(await count(svc, 'mail_requests')).toBe(before);
  });

  it("another project's groups are unknown", async () => {
    const other = await svc.newKey('group-filter-other');
    const res = await svc.call('POST', '/api/v1/mails', {
      key: other,
      body: { senderAddress: 'news@company.com', title: 't', body: 'b', recipientGroupFilter: { andFilter: false, groups: ['g1'] } },
    });
    expectError(res, '77103', /"g1" does not exist/);
  });
});

describe('expansion (the store-recipients job)', () => {
  const jobDeps = () => ({ db: idle.db.db, queue: idle.queue, logger: createLogger('silent'), now: () => new Date() });
  const state = async (requestId: string) =>
    (
      await sql<{ status: string; stored_count: number; request_count: number; recipient_count: number; recipient_group_cursor: string | null }>`
      SELECT status, stored_count, request_count, recipient_count, recipient_group_cursor FROM mail_requests WHERE id = ${requestId}
    `.execute(idle.db.db)
    ).rows[0]!;
  const internalId = (publicId: string) => String(BigInt(publicId.slice(8)));

  beforeAll(async () => {
    // Built in SQL (fast): "big" holds 120,000 addresses, "half" every second one of them.
    const projectId = idle.key.projectId;
    await sql`INSERT INTO address_book_addresses (project_id, address) SELECT ${projectId}::bigint, 'u' || i || '@big.example.com' FROM generate_series(1, 120000) i`.execute(
      idle.db.db,
    );
    await sql`INSERT INTO address_book_groups (project_id, name) VALUES (${projectId}::bigint, 'big'), (${projectId}::bigint, 'half'), (${projectId}::bigint, 'small')`.execute(
      idle.db.db,
    );
    await sql`
      INSERT INTO address_book_members (group_sid, address_id)
      SELECT g.sid, a.id FROM address_book_addresses a JOIN address_book_groups g ON g.project_id = a.project_id
      WHERE g.name = 'big' OR (g.name = 'half' AND a.id % 2 = 0) OR (g.name = 'small' AND a.id % 40000 = 0)
    `.execute(idle.db.db);
  }, 60_000);

  it('answers 201 with status P and the count the filter selects; a cancel in P stops storing', async () => {
    const res = await mail({ andFilter: false, groups: ['small'] }, {}, idle);
    expect(res.body.count).toBe(3);
    expect((await requestRow(res.body.requestId, idle)).emailStatus.code).toBe('P');
    expect((await idle.call('POST', `/api/v1/mails/requests/${res.body.requestId}/cancel`)).status).toBe(200);
    await storeRecipients(jobDeps(), internalId(res.body.requestId));
    expect(await state(internalId(res.body.requestId))).toMatchObject({ status: 'C', stored_count: 0 });
    expect(await count(idle, 'mails')).toBe(0);
  });

  it('stores in batches, resumes where a stopped run left off, stores each address once, then leaves P', async () => {
    const res = await mail({ andFilter: false, groups: ['half', 'big'] }, { confirmAndSend: true }, idle);
    expect(res.body.count).toBe(120_000);
    const id = internalId(res.body.requestId);
    let runs = 0;
    // The worker stops after the first batch: the job is handed back with its cursor.
    await storeRecipients(jobDeps(), id, { isStopping: () => runs++ >= 1 });
    const partial = await state(id);
    expect(partial).toMatchObject({ status: 'P', stored_count: GROUP_STORE_BATCH });
    expect(partial.recipient_group_cursor).not.toBeNull();
    await storeRecipients(jobDeps(), id);
    expect(await state(id)).toMatchObject({ status: 'R', stored_count: 120_000, request_count: 120_000, recipient_count: 120_000 });
    const check = await sql<{ n: string; addresses: string; seqs: string; max_seq: number }>`
      SELECT count(*)::text AS n, count(DISTINCT lower(r.address))::text AS addresses, count(DISTINCT m.seq)::text AS seqs, max(m.seq) AS max_seq
      FROM recipients r JOIN mails m ON m.id = r.mail_id WHERE r.request_id = ${id}
    `.execute(idle.db.db);
    expect(check.rows[0]).toEqual({ n: '120000', addresses: '120000', seqs: '120000', max_seq: 120_000 });
    // a job run again finds nothing to do
    await storeRecipients(jobDeps(), id);
    expect(await count(idle, 'recipients')).toBe(120_000);
  }, 60_000);

  it('AND over big groups stores exactly the overlap; a filter emptied before anything was stored ends F', async () => {
    const res = await mail({ andFilter: true, groups: ['big', 'half'] }, { confirmAndSend: true }, idle);
    expect(res.body.count).toBe(60_000);
    const id = internalId(res.body.requestId);
    // Emptied before anything was stored: nothing is sent.
    const emptied = await mail({ andFilter: true, groups: ['small'] }, { confirmAndSend: true }, idle);
    await idle.call('DELETE', '/api/v1/address-book/recipient-groups/address/empty?groupName=small');
    await storeRecipients(jobDeps(), internalId(emptied.body.requestId));
    expect(await state(internalId(emptied.body.requestId))).toMatchObject({ status: 'F', stored_count: 0, request_count: 0 });

    await storeRecipients(jobDeps(), id);
    expect(await state(id)).toMatchObject({ status: 'R', stored_count: 60_000, request_count: 60_000 });
    const odd = await sql<{ n: string }>`
      SELECT count(*)::text AS n FROM recipients r JOIN address_book_addresses a ON lower(a.address) = lower(r.address)
      WHERE r.request_id = ${id} AND a.id % 2 = 1
    `.execute(idle.db.db);
    expect(odd.rows[0]!.n).toBe('0');
  }, 60_000);

  it('each batch reads the book as it is then: changes ahead of the cursor apply, what is stored stays', async () => {
    const res = await mail({ andFilter: false, groups: ['big'] }, { confirmAndSend: true }, idle);
    expect(res.body.count).toBe(120_000);
    const id = internalId(res.body.requestId);
    let runs = 0;
    await storeRecipients(jobDeps(), id, { isStopping: () => runs++ >= 1 }); // the first 50,000 addresses (u1 … u50000)
    const deleted = await idle.call('DELETE', '/api/v1/address-book/address', { body: { emailAddresses: ['u10@big.example.com', 'u100000@big.example.com'] } });
    expect(deleted.status).toBe(200);
    expect(
      (await idle.call('POST', '/api/v1/address-book', { body: { groups: [{ groupName: 'big', emailAddresses: ['late@big.example.com'] }] } })).status,
    ).toBe(201);
    await storeRecipients(jobDeps(), id);
    expect(await state(id)).toMatchObject({ status: 'R', stored_count: 120_000, request_count: 120_000 });
    const which = await sql<{ address: string }>`
      SELECT address FROM recipients WHERE request_id = ${id} AND address IN ('u10@big.example.com', 'u100000@big.example.com', 'late@big.example.com') ORDER BY address
    `.execute(idle.db.db);
    expect(which.rows.map((r) => r.address)).toEqual(['late@big.example.com', 'u10@big.example.com']);
  }, 60_000);
});
