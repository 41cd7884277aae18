import { beforeAll, describe, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import type { Db, Tx } from '../../src/db/schema.ts';
import { simpleParser } from 'mailparser';
import { createLogger } from '../../src/logger.ts';
import { storeRecipients } from '../../src/modules/requests/requests.service.ts';
import { GROUP_STORE_BATCH, groupSource } from '../../src/modules/requests/store-from-groups.ts';
import type { MailTarget } from '../../src/modules/requests/store-batches.repository.ts';
import type { StorePart } from '../../src/modules/requests/store-parts.repository.ts';
import { combinationPage, countSelected, filterGroupSids, firstSharedId } from '../../src/modules/address-book/address-book.read-model.ts';
import { historyMonths } from '../../src/modules/retention/history-partitions.ts';
import { noteDrawnIds } from '../helpers/drawn-ids.ts';
import { requestPartitionStatistics } from '../helpers/partition-reltuples.ts';
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

/**
 * What `work` reads, in a transaction of its own, rolled back: the entries of the members' primary
 * key, those of their address index (`readByAddress`), the members' rows read by sequential scans,
 * and the address rows read (by any scan). This backend's counts not yet reported, earlier
 * transactions' too: the differences are the work's.
 */
async function readBy<T>(db: Db, work: (tx: Tx) => Promise<T>) {
  const tx = await db.startTransaction().execute();
  try {
    const stats = async () => {
      const row = (
        await sql<{ entries: string; by_address: string; rows: string; addresses: string }>`
          SELECT pg_stat_get_xact_tuples_returned('address_book_members_pkey'::regclass)::text AS entries,
                 pg_stat_get_xact_tuples_returned('address_book_members_address'::regclass)::text AS by_address,
                 pg_stat_get_xact_tuples_returned('address_book_members'::regclass)::text AS rows,
                 (pg_stat_get_xact_tuples_returned('address_book_addresses'::regclass)
                  + pg_stat_get_xact_tuples_fetched('address_book_addresses'::regclass))::text AS addresses`.execute(tx)
      ).rows[0]!;
      return { entries: Number(row.entries), byAddress: Number(row.by_address), rows: Number(row.rows), addresses: Number(row.addresses) };
    };
    const before = await stats();
    const result = await work(tx);
    const after = await stats();
    return {
      result,
      read: after.entries - before.entries,
      readByAddress: after.byAddress - before.byAddress,
      memberRowsScanned: after.rows - before.rows,
      addressRowsRead: after.addresses - before.addresses,
    };
  } finally {
    await tx.rollback().execute();
  }
}

/**
 * `db` whose transactions run `before(n)` just before the n-th statement that inserts mails (a
 * store's page; with one part, after its batch took its AND start): a change committed between
 * the two. Only raw SQL run on a transaction (`sql`…`.execute(tx)`) goes through it; the query
 * builder's statements do not.
 */
function beforeEachPage(db: Db, before: (n: number) => Promise<void>): Db {
  let pages = 0;
  const hooked = (tx: Tx): Tx =>
    new Proxy(tx, {
      get(target, prop) {
        if (prop === 'getExecutor') {
          const executor = target.getExecutor();
          return () =>
            new Proxy(executor, {
              get(ex, name) {
                if (name !== 'executeQuery') return bound(ex, name);
                return async (...args: Parameters<typeof ex.executeQuery>) => {
                  if (args[0].sql.includes('INSERT INTO mails')) await before(++pages);
                  return ex.executeQuery(...args);
                };
              },
            });
        }
        return bound(target, prop);
      },
    });
  return new Proxy(db, {
    get(target, prop) {
      if (prop !== 'transaction') return bound(target, prop);
      return () =>
        new Proxy(target.transaction(), {
          get(builder, name) {
            if (name !== 'execute') return bound(builder, name);
            return <T>(work: (tx: Tx) => Promise<T>) => builder.execute((tx) => work(hooked(tx)));
          },
        });
    },
  });
}

/** A property of `target`, its methods bound to it (kysely's objects keep private fields). */
function bound(target: object, prop: string | symbol): unknown {
  const value: unknown = Reflect.get(target, prop, target);
  return typeof value === 'function' ? value.bind(target) : value;
}

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
      await sql<{ status: string; stored_count: number; request_count: number; recipient_count: number }>`
      SELECT status, stored_count, request_count, recipient_count FROM mail_requests WHERE id = ${requestId}
    `.execute(idle.db.db)
    ).rows[0]!;
  const parts = async (requestId: string) =>
    (
      await sql<{ part: number; next_seq: number; last_seq: number | null; stored: number; state: string }>`
      SELECT part, next_seq, last_seq, stored, state FROM store_parts WHERE request_id = ${requestId} ORDER BY part
    `.execute(idle.db.db)
    ).rows;
  /** the request's mails: how many, distinct addresses, distinct seqs, the highest seq */
  const stored = async (requestId: string) =>
    (
      await sql<{ n: number; addresses: number; seqs: number; max_seq: number }>`
      SELECT count(*)::int AS n, count(DISTINCT lower(r.address))::int AS addresses, count(DISTINCT m.seq)::int AS seqs, max(m.seq) AS max_seq
      FROM recipients r JOIN mails m ON m.id = r.mail_id WHERE r.request_id = ${requestId}
    `.execute(idle.db.db)
    ).rows[0]!;
  const internalId = (publicId: string) => String(BigInt(publicId.slice(8)));
  /** A new group `name` of big's last `n` addresses (by id), as a group made later of recent addresses is. */
  const groupOfBigsLast = async (name: string, n: number) => {
    const projectId = idle.key.projectId;
    await sql`INSERT INTO address_book_groups (project_id, name) VALUES (${projectId}::bigint, ${name})`.execute(idle.db.db);
    await sql`
      INSERT INTO address_book_members (group_sid, address_id)
      SELECT t.sid, m.address_id FROM address_book_groups t, address_book_groups b JOIN address_book_members m ON m.group_sid = b.sid
      WHERE t.project_id = ${projectId}::bigint AND t.name = ${name} AND b.project_id = t.project_id AND b.name = 'big'
      ORDER BY m.address_id DESC LIMIT ${n}
    `.execute(idle.db.db);
  };

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

  it('stores in parts at once, each resuming where a stopped run left off, each address once, then leaves P', async () => {
    // Only the store may refresh the partitions' statistics here (checked below), not autovacuum.
    for (const month of await historyMonths(idle.db.db)) {
      await sql`ALTER TABLE ${sql.table(month.mails)} SET (autovacuum_enabled = false)`.execute(idle.db.db);
      await sql`ALTER TABLE ${sql.table(month.recipients)} SET (autovacuum_enabled = false)`.execute(idle.db.db);
      // analyzed while (nearly) empty: a re-analysis shows in reltuples
      await sql`ANALYZE ${sql.table(month.mails)}, ${sql.table(month.recipients)}`.execute(idle.db.db);
    }
    const res = await mail({ andFilter: false, groups: ['half', 'big'] }, { confirmAndSend: true }, idle);
    expect(res.body.count).toBe(120_000);
    const id = internalId(res.body.requestId);
    let asked = 0;
    // The worker stops after each part's first batch: the job is handed back, each part with its cursor.
    await storeRecipients(jobDeps(), id, { isStopping: () => asked++ >= 2 });
    expect(await state(id)).toMatchObject({ status: 'P', stored_count: 2 * GROUP_STORE_BATCH });
    expect(await parts(id)).toEqual([
      { part: 1, next_seq: GROUP_STORE_BATCH + 1, last_seq: 60_000, stored: GROUP_STORE_BATCH, state: 'S' },
      { part: 2, next_seq: 60_001 + GROUP_STORE_BATCH, last_seq: null, stored: GROUP_STORE_BATCH, state: 'S' },
    ]);
    const statistics = () => requestPartitionStatistics(idle.db.db, id);
    // Its mails wait for confirmation: nothing sends them while it is stored, so the partitions,
    // far more than twice what they held, were not analyzed again meanwhile (partition-statistics.ts).
    expect(await statistics()).toHaveLength(2);
    for (const table of await statistics()) expect(table.reltuples).toBeLessThan(GROUP_STORE_BATCH);
    await storeRecipients(jobDeps(), id);
    expect(await state(id)).toMatchObject({ status: 'R', stored_count: 120_000, request_count: 120_000, recipient_count: 120_000 });
    expect(await parts(id)).toEqual([]);
    expect(await stored(id)).toEqual({ n: 120_000, addresses: 120_000, seqs: 120_000, max_seq: 120_000 });
    // Once it ended they were: their statistics hold at least its first batch, where autovacuum
    // (off here) would have left the ones from before.
    for (const table of await statistics()) expect(table.reltuples).toBeGreaterThanOrEqual(GROUP_STORE_BATCH);
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

  it('AND over groups just imported (not yet vacuumed) merges each group through the primary key, not the address index', async () => {
    // "recent": big's last 20,000 addresses, in a book whose members autovacuum has not visited
    // (as right after an import); analyzed, as autovacuum does first
    const projectId = idle.key.projectId;
    await sql`ALTER TABLE address_book_members SET (autovacuum_enabled = false)`.execute(idle.db.db);
    try {
      await groupOfBigsLast('recent', 20_000);
      await sql`ANALYZE address_book_members`.execute(idle.db.db);
      const sids = await filterGroupSids(idle.db.db, projectId, { andFilter: true, groups: ['big', 'recent'] }, { requireAll: true, field: 'groups' });
      const counted = await readBy(idle.db.db, (tx) => countSelected(tx, sids, true));
      expect(counted.result).toBe(20_000);
      expect(counted.readByAddress).toBe(0);
      expect(counted.read).toBeGreaterThanOrEqual(40_000);
      const page = await readBy(
        idle.db.db,
        async (tx) => (await combinationPage(sids, true, '0', 5_000, null, await firstSharedId(tx, sids, true, '0')).execute(tx)).rows,
      );
      expect(page.result).toHaveLength(5_000);
      expect(page.readByAddress).toBe(0);
    } finally {
      await sql`DELETE FROM address_book_groups WHERE project_id = ${projectId}::bigint AND name = 'recent'`.execute(idle.db.db);
      await sql`ALTER TABLE address_book_members RESET (autovacuum_enabled)`.execute(idle.db.db);
    }
  }, 60_000);

  it('AND over groups whose ranges start apart: the count and each page of a store start where every group has a member, and the store takes exactly the overlap', async () => {
    // "tail": big's last 30,000 addresses (by id), as a group made later of recent addresses is
    const projectId = idle.key.projectId;
    await groupOfBigsLast('tail', 30_000);
    // statistics as a book that has settled has them: PostgreSQL merges the groups' ranges
    await sql`VACUUM ANALYZE address_book_members`.execute(idle.db.db);
    const groups = await sql<{ name: string; sid: string; first: string; tail_first: string }>`
      SELECT g.name, g.sid::text, (SELECT min(address_id)::text FROM address_book_members WHERE group_sid = g.sid) AS first,
             (SELECT min(m.address_id)::text FROM address_book_members m JOIN address_book_groups t ON t.sid = m.group_sid WHERE t.project_id = g.project_id AND t.name = 'tail') AS tail_first
      FROM address_book_groups g WHERE g.project_id = ${projectId}::bigint AND g.name IN ('big', 'tail') ORDER BY g.name
    `.execute(idle.db.db);
    const [big, tail] = groups.rows as [(typeof groups.rows)[0], (typeof groups.rows)[0]];
    const sids = [big.sid, tail.sid];
    expect(await firstSharedId(idle.db.db, sids, true, '0')).toBe(tail.first);
    // past a cursor inside the overlap, the next id both hold; an OR, or one group, has none
    const inside = String(BigInt(tail.first) + 10n);
    expect(await firstSharedId(idle.db.db, sids, true, inside)).toBe(String(BigInt(inside) + 1n));
    expect(await firstSharedId(idle.db.db, sids, false, '0')).toBeNull();
    expect(await firstSharedId(idle.db.db, [big.sid], true, '0')).toBeNull();
    expect(await firstSharedId(idle.db.db, sids, true, '9223372036854775806')).toBeNull();

    // The count, and a store's first page, read the overlap of both groups' ranges, not big's
    // 90,000 members before it (the primary key's entries each transaction read).
    const counted = await readBy(idle.db.db, (tx) => countSelected(tx, sids, true));
    expect(counted.result).toBe(30_000);
    expect(counted.read).toBeGreaterThanOrEqual(60_000);
    expect(counted.read).toBeLessThan(90_000);

    const res = await mail({ andFilter: true, groups: ['big', 'tail'] }, { confirmAndSend: true }, idle);
    expect(res.body.count).toBe(30_000);
    const id = internalId(res.body.requestId);
    // So does a store's first batch (rolled back), and it reads the addresses from there too,
    // not the book after the cursor.
    const req = (await sql<{ id_day: number; created_at: Date }>`SELECT id_day, created_at FROM mail_requests WHERE id = ${id}`.execute(idle.db.db)).rows[0]!;
    const source = await groupSource({ db: idle.db.db }, projectId, { andFilter: true, groups: ['big', 'tail'] });
    const firstPart: StorePart = { part: 1, keyAfter: '0', keyLast: null, nextSeq: 1, lastSeq: null, stored: 0, state: 'S' };
    const target: MailTarget = { requestId: id, projectId, idDay: req.id_day, nextAttemptAt: null, createdAt: req.created_at };
    const batch = await readBy(idle.db.db, (tx) => source.storeBatch(tx, firstPart, target, 50_000));
    expect(batch.result.stored).toBe(30_000);
    expect(batch.read).toBeGreaterThanOrEqual(60_000);
    expect(batch.read).toBeLessThan(90_000);
    expect(batch.addressRowsRead).toBeLessThan(45_000);
    await storeRecipients(jobDeps(), id);
    expect(await state(id)).toMatchObject({ status: 'R', stored_count: 30_000, request_count: 30_000 });
    expect(await stored(id)).toEqual({ n: 30_000, addresses: 30_000, seqs: 30_000, max_seq: 30_000 });
    const outside = await sql<{ n: string }>`
      SELECT count(*)::text AS n FROM recipients r JOIN address_book_addresses a ON lower(a.address) = lower(r.address)
      WHERE r.request_id = ${id} AND a.id < ${tail.tail_first}::bigint
    `.execute(idle.db.db);
    expect(outside.rows[0]!.n).toBe('0');

    // A store's page takes that start in a statement of its own. An older address both groups
    // hold since just after it (here: put in tail just before the page) is below it: the batch
    // takes the start again, finds it moved back, and runs again.
    const older = String(BigInt(tail.first) - 5n);
    const again = await mail({ andFilter: true, groups: ['big', 'tail'] }, { confirmAndSend: true }, idle);
    expect(again.body.count).toBe(30_000);
    const againId = internalId(again.body.requestId);
    let pages = 0;
    const addOlderFirst = async (n: number) => {
      pages = n;
      if (n === 1) await sql`INSERT INTO address_book_members (group_sid, address_id) VALUES (${tail.sid}::bigint, ${older}::bigint)`.execute(idle.db.db);
    };
    try {
      await storeRecipients({ ...jobDeps(), db: beforeEachPage(idle.db.db, addOlderFirst), config: { storeParallelism: 1 } }, againId);
      expect(pages).toBe(2); // the first page rolled back, and ran again
      expect(await state(againId)).toMatchObject({ status: 'R', stored_count: 30_001, request_count: 30_001 });
      const first = await sql<{ address: string }>`
        SELECT r.address FROM recipients r JOIN mails m ON m.id = r.mail_id WHERE r.request_id = ${againId} AND m.seq = 1
      `.execute(idle.db.db);
      const olderAddress = await sql<{ address: string }>`SELECT address FROM address_book_addresses WHERE id = ${older}::bigint`.execute(idle.db.db);
      expect(first.rows).toEqual(olderAddress.rows);
    } finally {
      await sql`DELETE FROM address_book_members WHERE group_sid = ${tail.sid}::bigint AND address_id = ${older}::bigint`.execute(idle.db.db);
    }
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
  describe('in parts', () => {
    const inParts = (n: number) => ({ ...jobDeps(), config: { storeParallelism: n } });
    const projectId = () => idle.key.projectId;

    beforeAll(async () => {
      // "third": every third address of the book
      await sql`INSERT INTO address_book_groups (project_id, name) VALUES (${projectId()}::bigint, 'third')`.execute(idle.db.db);
      await sql`
        INSERT INTO address_book_members (group_sid, address_id)
        SELECT g.sid, a.id FROM address_book_addresses a JOIN address_book_groups g ON g.project_id = a.project_id AND g.name = 'third'
        WHERE a.project_id = ${projectId()}::bigint AND a.id % 3 = 0
      `.execute(idle.db.db);
    }, 60_000);

    it('a bounded part of an AND merges the groups from its cursor: its batch reads about what it takes, not the rest of a group', async () => {
      // "firsthalf": big's first 60,000 members, just added (no page of them all-visible yet)
      await sql`INSERT INTO address_book_groups (project_id, name) VALUES (${projectId()}::bigint, 'firsthalf')`.execute(idle.db.db);
      const group = await sql<{ sid: string; big: string }>`
        SELECT g.sid::text, b.sid::text AS big FROM address_book_groups g JOIN address_book_groups b ON b.project_id = g.project_id AND b.name = 'big'
        WHERE g.project_id = ${projectId()}::bigint AND g.name = 'firsthalf'
      `.execute(idle.db.db);
      const { sid, big } = group.rows[0]!;
      try {
        await sql`
          INSERT INTO address_book_members (group_sid, address_id)
          SELECT ${sid}::bigint, address_id FROM address_book_members WHERE group_sid = ${big}::bigint ORDER BY address_id LIMIT 60000
        `.execute(idle.db.db);
        await sql`ANALYZE address_book_members`.execute(idle.db.db);
        const ids = await sql<{ after: string; through: string; short: string }>`
          SELECT (array_agg(address_id ORDER BY address_id))[15000]::text AS after, (array_agg(address_id ORDER BY address_id))[30000]::text AS through,
                 (array_agg(address_id ORDER BY address_id))[30010]::text AS short
          FROM address_book_members WHERE group_sid = ${sid}::bigint
        `.execute(idle.db.db);
        const { after, through, short } = ids.rows[0]!;
        const res = await mail({ andFilter: true, groups: ['firsthalf', 'big'] }, { confirmAndSend: true }, idle);
        expect(res.body.count).toBe(60_000);
        const id = internalId(res.body.requestId);
        const req = (await sql<{ id_day: number; created_at: Date }>`SELECT id_day, created_at FROM mail_requests WHERE id = ${id}`.execute(idle.db.db))
          .rows[0]!;
        const target: MailTarget = { requestId: id, projectId: projectId(), idDay: req.id_day, nextAttemptAt: null, createdAt: req.created_at };
        const source = await groupSource({ db: idle.db.db }, projectId(), { andFilter: true, groups: ['firsthalf', 'big'] });
        // batches rolled back: a part with its own 15,000 numbers to `through`, half-way
        const bounded: StorePart = { part: 1, keyAfter: after, keyLast: through, nextSeq: 15_001, lastSeq: 30_000, stored: 15_000, state: 'S' };
        const batch = await readBy(idle.db.db, (tx) => source.storeBatch(tx, bounded, target, 15_000));
        expect(batch.result).toEqual({ stored: 15_000, lastKey: through });
        // both groups' 15,000 entries from the cursor, not big's 105,000 after it
        expect(batch.read + batch.memberRowsScanned).toBeLessThan(45_000);
        // a full part going on with a whole batch as its limit, its range holding 10: it reads
        // about those, not a batch past its bound
        const full: StorePart = { part: 1, keyAfter: through, keyLast: short, nextSeq: 60_001, lastSeq: null, stored: 30_000, state: 'S' };
        const rest = await readBy(idle.db.db, (tx) => source.storeBatch(tx, full, target, GROUP_STORE_BATCH));
        expect(rest.result).toEqual({ stored: 10, lastKey: short });
        expect(rest.read + rest.memberRowsScanned).toBeLessThan(1_000);
      } finally {
        await sql`DELETE FROM address_book_members WHERE group_sid = ${sid}::bigint`.execute(idle.db.db);
        await sql`DELETE FROM address_book_groups WHERE sid = ${sid}::bigint`.execute(idle.db.db);
      }
    }, 60_000);

    it('a batch failing mid-part is rolled back and the next run fills its part: no gap, no repeat', async () => {
      const res = await mail({ andFilter: true, groups: ['big', 'half'] }, { confirmAndSend: true }, idle);
      const n = res.body.count as number;
      const id = internalId(res.body.requestId);
      await sql`
        CREATE FUNCTION fail_part_2() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.part = 2 AND NEW.stored > 0 THEN RAISE EXCEPTION 'part 2 fails'; END IF; RETURN NEW; END $$;
        CREATE TRIGGER fail_part_2 BEFORE UPDATE ON store_parts FOR EACH ROW EXECUTE FUNCTION fail_part_2();
      `.execute(idle.db.db);
      try {
        await expect(storeRecipients(inParts(3), id)).rejects.toThrow(/part 2 fails/);
      } finally {
        await sql`DROP TRIGGER fail_part_2 ON store_parts; DROP FUNCTION fail_part_2();`.execute(idle.db.db);
      }
      const after = await parts(id);
      expect(after).toHaveLength(3);
      expect(after[1]).toMatchObject({ stored: 0, state: 'S' });
      expect((await state(id)).stored_count).toBe(after.reduce((sum, p) => sum + p.stored, 0));
      expect((await stored(id)).n).toBe((await state(id)).stored_count);

      await storeRecipients(inParts(3), id);
      expect(await state(id)).toMatchObject({ status: 'R', stored_count: n, request_count: n });
      expect(await stored(id)).toEqual({ n, addresses: n, seqs: n, max_seq: n });
    }, 60_000);

    it('a part whose group grew within its addresses goes on after the others, numbered after them', async () => {
      const res = await mail({ andFilter: false, groups: ['third'] }, { confirmAndSend: true }, idle);
      const n = res.body.count as number;
      const id = internalId(res.body.requestId);
      await storeRecipients(inParts(2), id, { isStopping: () => true }); // split, nothing stored
      expect(await parts(id)).toEqual([
        { part: 1, next_seq: 1, last_seq: Math.ceil(n / 2), stored: 0, state: 'S' },
        { part: 2, next_seq: Math.ceil(n / 2) + 1, last_seq: null, stored: 0, state: 'S' },
      ]);
      // Two older addresses join the group: both fall in part 1's addresses, beyond its numbers.
      await sql`
        INSERT INTO address_book_members (group_sid, address_id)
        SELECT g.sid, a.id FROM address_book_addresses a JOIN address_book_groups g ON g.project_id = a.project_id AND g.name = 'third'
        WHERE a.project_id = ${projectId()}::bigint AND a.id % 3 = 1 ORDER BY a.id LIMIT 2
      `.execute(idle.db.db);
      await storeRecipients(inParts(2), id);
      expect(await state(id)).toMatchObject({ status: 'R', stored_count: n + 2, request_count: n + 2 });
      expect(await stored(id)).toEqual({ n: n + 2, addresses: n + 2, seqs: n + 2, max_seq: n + 2 });
    }, 60_000);

    it('a request left in P by the single-cursor job (before parts) goes on after its cursor and numbers', async () => {
      const res = await mail({ andFilter: false, groups: ['third'] }, { confirmAndSend: true }, idle);
      const n = res.body.count as number;
      const id = internalId(res.body.requestId);
      // That job had stored the first 3 selected addresses as seq 1-3 and kept its cursor on the request.
      const cursor = await sql<{ last_id: string }>`
        WITH src AS (
          SELECT a.id, a.address, row_number() OVER (ORDER BY a.id)::int AS seq
          FROM address_book_members m JOIN address_book_groups g ON g.sid = m.group_sid AND g.name = 'third' AND g.project_id = ${projectId()}::bigint
          JOIN address_book_addresses a ON a.id = m.address_id ORDER BY a.id LIMIT 3
        ), ml AS (
          INSERT INTO mails (id, id_day, request_id, project_id, seq, recipient_count, representative_address, next_attempt_at, created_at)
          SELECT nextval('mail_id_seq'), r.id_day, r.id, r.project_id, src.seq, 1, src.address, NULL, r.created_at FROM src JOIN mail_requests r ON r.id = ${id}
          RETURNING id, request_id, project_id, representative_address, created_at
        ), rc AS (
          INSERT INTO recipients (mail_id, request_id, project_id, address, name, type, parameters, created_at)
          SELECT ml.id, ml.request_id, ml.project_id, ml.representative_address, NULL, 'R', NULL, ml.created_at FROM ml
        )
        SELECT max(id)::text AS last_id FROM src
      `.execute(idle.db.db);
      await sql`UPDATE mail_requests SET stored_count = 3, recipient_group_cursor = ${cursor.rows[0]!.last_id} WHERE id = ${id}`.execute(idle.db.db);
      await storeRecipients(inParts(2), id);
      expect(await state(id)).toMatchObject({ status: 'R', stored_count: n, request_count: n });
      expect(await stored(id)).toEqual({ n, addresses: n, seqs: n, max_seq: n });
    }, 60_000);

    it('two runs at once store each address once and move the request out of P once', async () => {
      const res = await mail({ andFilter: false, groups: ['half', 'third'] }, { confirmAndSend: true }, idle);
      const n = res.body.count as number;
      const id = internalId(res.body.requestId);
      await Promise.all([storeRecipients(inParts(3), id), storeRecipients(inParts(3), id)]);
      expect(await state(id)).toMatchObject({ status: 'R', stored_count: n, request_count: n });
      expect(await stored(id)).toEqual({ n, addresses: n, seqs: n, max_seq: n });
    }, 60_000);

    it('a cancel while parts are stored stops every part', async () => {
      const res = await mail({ andFilter: false, groups: ['big'] }, { confirmAndSend: true }, idle);
      const id = internalId(res.body.requestId);
      let asked = 0;
      await storeRecipients(inParts(2), id, { isStopping: () => asked++ >= 2 }); // a batch of each part
      const before = await parts(id);
      expect(before.map((p) => p.stored)).toEqual([GROUP_STORE_BATCH, GROUP_STORE_BATCH]);
      expect((await idle.call('POST', `/api/v1/mails/requests/${res.body.requestId}/cancel`)).status).toBe(200);
      await storeRecipients(inParts(2), id);
      expect(await state(id)).toMatchObject({ status: 'C', stored_count: 2 * GROUP_STORE_BATCH });
      // the parts go with the cancel (the next run of the store job deletes them)
      expect(await parts(id)).toEqual([]);
      expect((await stored(id)).n).toBe(2 * GROUP_STORE_BATCH);
    }, 60_000);

    it('a cancel that commits while batches are being stored rolls them back', async () => {
      const res = await mail({ andFilter: false, groups: ['third'] }, { confirmAndSend: true }, idle);
      const id = internalId(res.body.requestId);
      // Each part's batch, its mails inserted, waits on a lock the test holds until the cancel has answered.
      await sql`
        CREATE FUNCTION hold_part() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock_shared(4217); RETURN NEW; END $$;
        CREATE TRIGGER hold_part BEFORE UPDATE ON store_parts FOR EACH ROW EXECUTE FUNCTION hold_part();
      `.execute(idle.db.db);
      try {
        await idle.db.db.connection().execute(async (conn) => {
          await sql`SELECT pg_advisory_lock(4217)`.execute(conn);
          try {
            const storing = storeRecipients(inParts(2), id);
            await waitFor(
              async () =>
                (await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = 4217 AND NOT granted`.execute(conn))
                  .rows[0]!.n === 2,
              20_000,
              'both parts to wait',
            );
            expect((await idle.call('POST', `/api/v1/mails/requests/${res.body.requestId}/cancel`)).status).toBe(200);
            await sql`SELECT pg_advisory_unlock(4217)`.execute(conn);
            await storing;
          } finally {
            await sql`SELECT pg_advisory_unlock_all()`.execute(conn);
          }
        });
      } finally {
        await sql`DROP TRIGGER hold_part ON store_parts; DROP FUNCTION hold_part();`.execute(idle.db.db);
      }
      expect(await state(id)).toMatchObject({ status: 'C', stored_count: 0 });
      // the run that saw the cancel deleted the parts
      expect(await parts(id)).toEqual([]);
      expect((await stored(id)).n).toBe(0);
    }, 60_000);

    it("a batch draws all its mails' and recipients' ids before it inserts any of them, in the order of its mail numbers", async () => {
      let id = '';
      let n = 0;
      const noted = await noteDrawnIds(idle.db.db, async () => {
        const res = await mail({ andFilter: true, groups: ['third'] }, { confirmAndSend: true }, idle);
        n = res.body.count as number;
        expect(n).toBeGreaterThan(30_000);
        expect(n).toBeLessThanOrEqual(GROUP_STORE_BATCH); // one batch
        id = internalId(res.body.requestId);
        await storeRecipients(inParts(1), id);
      });
      expect(await stored(id)).toEqual({ n, addresses: n, seqs: n, max_seq: n });
      const batches = noted.filter((b) => b.request === id);
      // one batch, its ids drawn before its first insert, in one block (nothing else drew meanwhile)
      expect(batches.map((b) => b.tbl)).toEqual(['mails', 'recipients']);
      for (const b of batches) {
        expect(b).toMatchObject({ rows: n, drawn: b.last });
        expect(BigInt(b.last) - BigInt(b.first) + 1n).toBe(BigInt(n));
      }
      // mail ids follow the mail numbers; each recipient's id follows its mail's
      const order = await sql<{ out_of_order: number }>`
        SELECT count(*)::int AS out_of_order FROM (
          SELECT m.id AS mail_id, r.id AS recipient_id, lag(m.id) OVER w AS prev_mail, lag(r.id) OVER w AS prev_recipient
          FROM mails m JOIN recipients r ON r.mail_id = m.id WHERE m.request_id = ${id} WINDOW w AS (ORDER BY m.seq)
        ) x WHERE mail_id <= prev_mail OR recipient_id <= prev_recipient
      `.execute(idle.db.db);
      expect(order.rows[0]!.out_of_order).toBe(0);
    }, 60_000);

    it('an AND drives from its smallest group; groups past 100,000 members are not counted further and keep the order given', async () => {
      await sql`INSERT INTO address_book_groups (project_id, name) VALUES (${projectId()}::bigint, 'most')`.execute(idle.db.db);
      await sql`
        INSERT INTO address_book_members (group_sid, address_id)
        SELECT g.sid, a.id FROM address_book_addresses a JOIN address_book_groups g ON g.project_id = a.project_id AND g.name = 'most'
        WHERE a.project_id = ${projectId()}::bigint AND a.id % 10 <> 0
      `.execute(idle.db.db);
      const sids = new Map(
        (
          await sql<{ sid: string; name: string }>`SELECT sid::text, name FROM address_book_groups WHERE project_id = ${projectId()}::bigint`.execute(
            idle.db.db,
          )
        ).rows.map((r) => [r.sid, r.name]),
      );
      const order = async (groups: string[]) =>
        (await filterGroupSids(idle.db.db, projectId(), { andFilter: true, groups }, { requireAll: true, field: 'groups' })).map((sid) => sids.get(sid));
      // "third" (about 40,000) drives; "big" (120,000) and "most" (108,000) are both past the count
      expect(await order(['big', 'third', 'most'])).toEqual(['third', 'big', 'most']);
      expect(await order(['most', 'big', 'third'])).toEqual(['third', 'most', 'big']);
      expect(await order(['big', 'half'])).toEqual(['half', 'big']);
    }, 60_000);

    it('groups that grew a lot between the POST and storing are split by what they hold now, into equal parts', async () => {
      await sql`INSERT INTO address_book_groups (project_id, name) VALUES (${projectId()}::bigint, 'grows')`.execute(idle.db.db);
      const join = (where: ReturnType<typeof sql>) => sql`
        INSERT INTO address_book_members (group_sid, address_id)
        SELECT g.sid, a.id FROM address_book_addresses a JOIN address_book_groups g ON g.project_id = a.project_id AND g.name = 'grows'
        WHERE a.project_id = ${projectId()}::bigint AND ${where}
      `;
      await join(sql`a.id % 10000 = 7`).execute(idle.db.db);
      const res = await mail({ andFilter: false, groups: ['grows'] }, { confirmAndSend: true }, idle);
      expect(res.body.count).toBeGreaterThan(0);
      expect(res.body.count).toBeLessThanOrEqual(13);
      const id = internalId(res.body.requestId);
      // 60,000 more join before the job runs
      await join(sql`a.id % 2 = 0 AND a.id % 10000 <> 7`).execute(idle.db.db);
      const holds = sql<{ n: number }>`
        SELECT count(*)::int AS n FROM address_book_members m
        JOIN address_book_groups g ON g.sid = m.group_sid AND g.name = 'grows' AND g.project_id = ${projectId()}::bigint
      `;
      const n = (await holds.execute(idle.db.db)).rows[0]!.n;
      expect(n).toBeGreaterThan(50_000);
      await storeRecipients(inParts(3), id, { isStopping: () => true }); // split, nothing stored
      const split = await parts(id);
      expect(split).toHaveLength(3);
      expect(split[0]!.next_seq).toBe(1);
      expect(split[2]!.last_seq).toBeNull();
      // each part's numbers (and addresses) are a third of what the group holds now
      const sizes = [split[0]!.last_seq!, split[1]!.last_seq! - split[1]!.next_seq + 1, n - split[2]!.next_seq + 1];
      expect(split[1]!.next_seq).toBe(split[0]!.last_seq! + 1);
      expect(split[2]!.next_seq).toBe(split[1]!.last_seq! + 1);
      for (const size of sizes) expect([Math.floor(n / 3), Math.ceil(n / 3)]).toContain(size);
      await storeRecipients(inParts(3), id);
      expect(await state(id)).toMatchObject({ status: 'R', stored_count: n, request_count: n });
      expect(await stored(id)).toEqual({ n, addresses: n, seqs: n, max_seq: n });
    }, 60_000);
  });
});
