// recordResults (src/modules/delivery/delivery.repository.ts) writes outcomes in one statement:
// mails held under their claims' tokens, their recipients, and the webhook events of final
// outcomes. A mail whose claim was lost (another worker holds it now) keeps what the
// other decides: neither it nor its recipients are written, and no event is emitted for them.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { heldKey, recordResults } from '../../src/modules/delivery/delivery.repository.ts';
import { type ClaimedOutcome, createRecorder } from '../../src/modules/delivery/result-recorder.ts';
import pino from 'pino';
import { scrape } from '../../src/metrics.ts';
import { ALL_MONTHS, seedProject, seedRequest } from '../helpers/seed-rows.ts';
import { createTestDb, type TestDb } from '../helpers/test-db.ts';

let db: TestDb;
const [A, B, OTHER] = [randomUUID(), randomUUID(), randomUUID()];
beforeAll(async () => {
  db = await createTestDb();
});
afterAll(async () => {
  await db.drop();
});

async function claimedMails(token: string, n: number, otherToken: string) {
  const projectId = await seedProject(db.db, `record-${token.slice(0, 8)}`);
  await db.db
    .insertInto('webhooks')
    .values({ project_id: projectId, url: 'http://127.0.0.1:9/hook', events: ['recipient.sent', 'recipient.failed'], secret_sealed: 'x' })
    .execute();
  const req = await seedRequest(db.db, {
    projectId,
    status: 'I',
    mailStatus: 'I',
    recipients: Array.from({ length: n }, (_, i) => ({ address: `r${i}@example.com`, status: 'R' as const, resultCode: null })),
  });
  const rows = await sql<{ mail_id: string; recipient_id: string }>`
    SELECT m.id::text AS mail_id, r.id::text AS recipient_id FROM mails m JOIN recipients r ON r.mail_id = m.id
    WHERE m.request_id = ${req.id} ORDER BY m.seq`.execute(db.db);
  // The first mail's claim was lost: another worker holds it now.
  await sql`UPDATE mails SET lease_token = CASE WHEN seq = 1 THEN ${otherToken}::uuid ELSE ${token}::uuid END, lease_until = now() + interval '1 minute'
    WHERE request_id = ${req.id}`.execute(db.db);
  return { projectId, requestId: req.id, rows: rows.rows };
}

const outcome = (rows: { mail_id: string; recipient_id: string }[], at: Date, token: string) => ({
  mails: rows.map((r) => ({ id: r.mail_id, token, status: 'S', nextAttemptAt: null, finishedAt: at })),
  recipients: rows.map((r) => ({
    id: r.recipient_id,
    mailId: r.mail_id,
    token,
    status: 'S',
    resultCode: 'MAIL_SENT' as const,
    resultMessage: '250 ok',
    retryCount: 0,
    receivedAt: at,
    finishedAt: at,
  })),
});

/** The recorder's input for the second mail of claimedMails' request, sent under `token`. */
function claimedOutcome(c: Awaited<ReturnType<typeof claimedMails>>, token: string): ClaimedOutcome {
  const o = outcome([c.rows[1]!], new Date(), token);
  return { mailId: c.rows[1]!.mail_id, projectId: c.projectId, mail: o.mails[0]!, recipients: o.recipients, all: [], token, months: ALL_MONTHS };
}

/** The recipient-results metric's count for a result and code. */
async function recipientResults(result: string, code: string): Promise<number> {
  const line = new RegExp(`mailer_recipient_results_total\\{result="${result}",code="${code}"\\} (\\d+)`);
  return Number(line.exec(await scrape(db.db))?.[1] ?? 0);
}

async function state(requestId: string) {
  return (
    await sql<{ seq: number; mail: string; token: string | null; recipient: string; code: string | null; events: number }>`
      SELECT m.seq, m.status AS mail, m.lease_token AS token, r.status AS recipient, r.result_code AS code,
        (SELECT count(*)::int FROM webhook_deliveries d WHERE d.subject_id = r.id) AS events
      FROM mails m JOIN recipients r ON r.mail_id = m.id WHERE m.request_id = ${requestId} ORDER BY m.seq`.execute(db.db)
  ).rows;
}

it('writes the mails held under the token, their recipients and one event each; a lost claim is left alone', async () => {
  const { requestId, rows } = await claimedMails(A, 3, OTHER);
  const { mails, recipients } = outcome(rows, new Date(), A);
  await recordResults(db.db, ALL_MONTHS, mails, recipients);
  expect(await state(requestId)).toEqual([
    { seq: 1, mail: 'I', token: OTHER, recipient: 'R', code: null, events: 0 },
    { seq: 2, mail: 'S', token: null, recipient: 'S', code: 'MAIL_SENT', events: 1 },
    { seq: 3, mail: 'S', token: null, recipient: 'S', code: 'MAIL_SENT', events: 1 },
  ]);
});

it('with more writes in the transaction, they are given only the mails still held, and fail the whole recording when they fail', async () => {
  const { requestId, rows } = await claimedMails(B, 2, randomUUID());
  const { mails, recipients } = outcome(rows, new Date(), B);
  const before = await state(requestId);
  await expect(
    recordResults(db.db, ALL_MONTHS, mails, recipients, async () => {
      throw new Error('also failed');
    }),
  ).rejects.toThrow('also failed');
  expect(await state(requestId)).toEqual(before);
  const given: string[][] = [];
  await recordResults(db.db, ALL_MONTHS, mails, recipients, async (_tx, held) => {
    given.push([...held]);
  });
  expect(given).toEqual([[heldKey(rows[1]!.mail_id, B)]]);
  expect((await state(requestId)).map((r) => [r.mail, r.recipient, r.events])).toEqual([
    ['I', 'R', 0],
    ['S', 'S', 1],
  ]);
});

it('a recipient is written only with its own mail: one paired with another, held mail is left alone', async () => {
  const { requestId, rows } = await claimedMails(randomUUID(), 2, randomUUID());
  const token = (await sql<{ token: string }>`SELECT lease_token::text AS token FROM mails WHERE id = ${rows[1]!.mail_id}`.execute(db.db)).rows[0]!.token;
  const { mails, recipients } = outcome([rows[1]!], new Date(), token);
  // the lost mail's recipient, under the held mail's id
  const [stray] = outcome([{ mail_id: rows[1]!.mail_id, recipient_id: rows[0]!.recipient_id }], new Date(), token).recipients;
  const done = await recordResults(db.db, ALL_MONTHS, mails, [...recipients, stray!]);
  expect((await state(requestId)).map((r) => [r.mail, r.recipient, r.events])).toEqual([
    ['I', 'R', 0],
    ['S', 'S', 1],
  ]);
  // and it says so: the held mail, and only its own recipient written (what the metric counts)
  expect([...done.held]).toEqual([heldKey(rows[1]!.mail_id, token)]);
  expect([...done.recipients]).toEqual([rows[1]!.recipient_id]);
});

it("writes the outcomes of two claims in one statement, each mail under its own claim's token", async () => {
  const [C, D] = [randomUUID(), randomUUID()];
  const first = await claimedMails(C, 3, D);
  const second = await claimedMails(D, 2, C);
  // the second request's second mail is still held by D; its first by C (D lost it)
  const at = new Date();
  const one = outcome(first.rows, at, C);
  const two = outcome(second.rows, at, D);
  await recordResults(db.db, ALL_MONTHS, [...one.mails, ...two.mails], [...one.recipients, ...two.recipients]);
  expect((await state(first.requestId)).map((r) => [r.mail, r.recipient])).toEqual([
    ['I', 'R'],
    ['S', 'S'],
    ['S', 'S'],
  ]);
  expect((await state(second.requestId)).map((r) => [r.mail, r.token, r.recipient])).toEqual([
    ['I', C, 'R'],
    ['S', null, 'S'],
  ]);
});

it("the recorder writes the outcomes of two batches handed in together in one transaction, each under its batch's token", async () => {
  const [E, F] = [randomUUID(), randomUUID()];
  const first = await claimedMails(E, 2, F);
  const second = await claimedMails(F, 2, E);
  const record = createRecorder({ db: db.db, logger: pino({ level: 'silent' }), now: () => new Date() });
  await Promise.all([record(claimedOutcome(first, E)), record(claimedOutcome(second, F))]);
  const written = await sql<{ status: string; xid: string }>`
    SELECT status, xmin::text AS xid FROM mails WHERE id IN (${first.rows[1]!.mail_id}, ${second.rows[1]!.mail_id})`.execute(db.db);
  // both written, by one statement (a recorder a batch wrote them in two transactions)
  expect(written.rows.map((r) => r.status)).toEqual(['S', 'S']);
  expect(new Set(written.rows.map((r) => r.xid)).size).toBe(1);
});

it("an urgent outcome ends the recorder's linger: it and the one waiting before it are written at once, together, each taken once", async () => {
  const [E, F] = [randomUUID(), randomUUID()];
  const first = await claimedMails(E, 2, F);
  const second = await claimedMails(F, 2, E);
  // a linger no test waits out: only the urgent outcome can start the group
  const record = createRecorder({ db: db.db, logger: pino({ level: 'silent' }), now: () => new Date() }, undefined, 60_000);
  const taken: string[] = [];
  const waiting = record(claimedOutcome(first, E), { taken: () => taken.push('first') });
  await new Promise((r) => setTimeout(r, 50));
  expect((await state(first.requestId)).map((r) => r.mail)).toEqual(['I', 'I']);
  expect(taken).toEqual([]);
  const both = Promise.all([waiting, record(claimedOutcome(second, F), { urgent: true, taken: () => taken.push('second') })]).then(() => 'recorded');
  expect(await Promise.race([both, new Promise((r) => setTimeout(() => r('lingered'), 10_000).unref())])).toBe('recorded');
  const written = await sql<{ status: string; xid: string }>`
    SELECT status, xmin::text AS xid FROM mails WHERE id IN (${first.rows[1]!.mail_id}, ${second.rows[1]!.mail_id})`.execute(db.db);
  expect(written.rows.map((r) => r.status)).toEqual(['S', 'S']);
  expect(new Set(written.rows.map((r) => r.xid)).size).toBe(1);
  // each was taken into the group being written once (batchRecording's count of what waits)
  expect(taken).toEqual(['first', 'second']);
});

it("a mail that comes twice in one call, under a lost claim's token and its holder's, is written once, with its holder's recipients and bounce", async () => {
  const [LOST, HOLDER] = [randomUUID(), randomUUID()];
  const { requestId, rows } = await claimedMails(HOLDER, 2, HOLDER);
  const at = new Date();
  const current = outcome([rows[1]!], at, HOLDER);
  // the lost claim's outcome of the same mail: a hard bounce, which must neither be written nor block the address
  const stale = outcome([rows[1]!], at, LOST);
  const staleRecipients = stale.recipients.map((r) => ({ ...r, status: 'F', resultCode: 'MAILBOX_ERROR' as const, resultMessage: '550 no' }));
  const given: string[][] = [];
  await recordResults(db.db, ALL_MONTHS, [...stale.mails, ...current.mails], [...staleRecipients, ...current.recipients], async (_tx, held) => {
    given.push([...held]);
  });
  expect(given).toEqual([[heldKey(rows[1]!.mail_id, HOLDER)]]);
  expect((await state(requestId)).map((r) => [r.mail, r.recipient, r.code, r.events])).toEqual([
    ['I', 'R', null, 0],
    ['S', 'S', 'MAIL_SENT', 1],
  ]);
});

it("a claim's outcome the database refuses fails that claim's recording only, not the other claims' in its group", async () => {
  const [G, H] = [randomUUID(), randomUUID()];
  const first = await claimedMails(G, 2, H);
  const second = await claimedMails(H, 2, G);
  const record = createRecorder({ db: db.db, logger: pino({ level: 'silent' }), now: () => new Date() }, () => 1);
  // a status the table's check refuses: the whole statement fails, and no retry would mend it
  const bad = claimedOutcome(second, H);
  const refused = { ...bad, recipients: bad.recipients.map((r) => ({ ...r, status: 'Z' })) };
  const settled = await Promise.allSettled([record(claimedOutcome(first, G)), record(refused)]);
  expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
  expect((await state(first.requestId)).map((r) => [r.mail, r.recipient])).toEqual([
    ['I', 'R'],
    ['S', 'S'],
  ]);
  expect((await state(second.requestId)).map((r) => [r.mail, r.recipient])).toEqual([
    ['I', 'R'],
    ['I', 'R'],
  ]);
});

it("the recipient-results metric counts what was written: a lost claim's outcome is neither written nor counted", async () => {
  const [G, H] = [randomUUID(), randomUUID()];
  const c = await claimedMails(G, 2, H);
  const sent = () => recipientResults('sent', 'MAIL_SENT');
  const record = createRecorder({ db: db.db, logger: pino({ level: 'silent' }), now: () => new Date() });
  const before = await sent();
  // the second mail is held under G: an outcome under H (a claim that lost it) writes nothing
  await record(claimedOutcome(c, H));
  expect((await state(c.requestId)).map((r) => r.recipient)).toEqual(['R', 'R']);
  expect(await sent()).toBe(before);
  await record(claimedOutcome(c, G));
  expect((await state(c.requestId)).map((r) => r.recipient)).toEqual(['R', 'S']);
  expect(await sent()).toBe(before + 1);
});

it("the recorder given a mail twice, a lost claim's hard bounce and its holder's success, writes the success and blocks no address", async () => {
  const [LOST, HOLDER] = [randomUUID(), randomUUID()];
  const c = await claimedMails(HOLDER, 2, HOLDER);
  const address = 'r1@example.com';
  const held = claimedOutcome(c, HOLDER);
  const lost = claimedOutcome(c, LOST);
  const bounced: ClaimedOutcome = {
    ...lost,
    mail: { ...lost.mail, status: 'F' },
    recipients: lost.recipients.map((r) => ({ ...r, status: 'F', resultCode: 'MAILBOX_ERROR' as const, resultMessage: '550 5.1.1 no such user' })),
    all: [{ id: c.rows[1]!.recipient_id, address, name: null, type: 'R', parameters: null, retryCount: 0, status: 'I', pending: true }],
  };
  const record = createRecorder({ db: db.db, logger: pino({ level: 'silent' }), now: () => new Date() });
  const before = [await recipientResults('sent', 'MAIL_SENT'), await recipientResults('failed', 'MAILBOX_ERROR')];
  await Promise.all([record(bounced), record({ ...held, all: bounced.all })]);
  // counted once, as sent: the lost claim's failure was not written
  expect([await recipientResults('sent', 'MAIL_SENT'), await recipientResults('failed', 'MAILBOX_ERROR')]).toEqual([before[0]! + 1, before[1]]);
  expect((await state(c.requestId)).map((r) => [r.mail, r.recipient, r.code])).toEqual([
    ['I', 'R', null],
    ['S', 'S', 'MAIL_SENT'],
  ]);
  const blocks = await sql<{ n: number }>`SELECT count(*)::int AS n FROM send_blocks WHERE project_id = ${c.projectId}::bigint`.execute(db.db);
  expect(blocks.rows[0]!.n).toBe(0);
});
