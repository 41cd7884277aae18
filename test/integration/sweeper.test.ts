import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { sql } from 'kysely';
import { createTestDb, type TestDb } from '../helpers/test-db.ts';
import { startTestSink, type TestSink } from '../helpers/smtp-sink.ts';
import { startTestService, waitFor } from '../helpers/test-service.ts';

let db: TestDb;
let sink: TestSink;

beforeAll(async () => {
  db = await createTestDb();
  sink = await startTestSink();
});
afterAll(async () => {
  await sink.close();
  await db.drop();
});

const body = (n: number) => ({
  senderAddress: 'a@company.com',
  title: 't',
  body: 'b',
  recipients: Array.from({ length: n }, (_, i) => ({ address: `lost${i}@example.com` })),
});

it('sends due mails stored while no worker ran (no job needed), with nothing left for the sweep', async () => {
  // Stored by an API-only instance, whose notifications nobody heard; the mails are long due.
  const api = await startTestService({ db, smtpUrl: sink.url, workers: false });
  const first = await api.call('POST', '/api/v1/mails', { body: body(1500) });
  const second = await api.call('POST', '/api/v1/mails', { body: body(10) });
  expect(first.status).toBe(201);
  expect(second.status).toBe(201);
  await sql`UPDATE mails SET next_attempt_at = now() - interval '5 minutes'`.execute(db.db);
  await api.stop();

  // A worker started later claims them from the tables: there is no job to lose.
  const worker = await startTestService({ db, smtpUrl: sink.url, box: api.box, key: api.key });
  try {
    expect(await worker.workers!.sweepNow()).toBe(0);
    await waitFor(async () => sink.messages.length >= 1510 && sink.messages, 30_000, 'all 1,510 messages');
    await waitFor(async () => {
      const r = await sql<{ n: string }>`SELECT count(*) AS n FROM mails WHERE status IN ('R', 'I')`.execute(db.db);
      return r.rows[0]!.n === '0';
    });
    expect(await worker.workers!.sweepNow()).toBe(0);
  } finally {
    await worker.stop();
  }
});

it('re-queues the storing of a request left in P without a store job, and leaves one that has its job alone', async () => {
  // Stored by an API-only instance; then its store job is lost (as if its retries were used up).
  const api = await startTestService({ db, smtpUrl: sink.url, workers: false });
  const lost = await api.call('POST', '/api/v1/mails', { body: body(2_500) });
  const queued = await api.call('POST', '/api/v1/mails', { body: body(2_100) });
  expect(lost.status).toBe(201);
  expect(queued.status).toBe(201);
  const lostId = String(BigInt(lost.body.requestId.slice(8)));
  await sql`DELETE FROM pgboss.job WHERE name = 'store-recipients' AND data->>'requestId' = ${lostId}`.execute(db.db);
  await sql`UPDATE mail_requests SET created_at = now() - interval '5 minutes' WHERE status = 'P'`.execute(db.db);
  await api.stop();

  const worker = await startTestService({ db, smtpUrl: sink.url, box: api.box, key: api.key });
  try {
    // The queued request is stored by its own job; only the lost one needs the sweep.
    expect(await worker.workers!.sweepNow()).toBe(1);
    const status = async (id: string) => (await worker.call('GET', `/api/v1/mails/requests/${id}/status`)).body;
    await waitFor(
      async () => {
        const [a, b] = [await status(lost.body.requestId), await status(queued.body.requestId)];
        return a.finishCount === 2_500 && b.finishCount === 2_100;
      },
      60_000,
      'both requests stored and sent',
    );
    const queuedId = String(BigInt(queued.body.requestId.slice(8)));
    const r = await sql<{ request_id: string; n: string }>`
      SELECT request_id::text, count(*) AS n FROM recipients WHERE request_id IN (${lostId}, ${queuedId}) AND status = 'S' GROUP BY 1`.execute(db.db);
    expect(Object.fromEntries(r.rows.map((x) => [x.request_id, Number(x.n)]))).toEqual({ [lostId]: 2_500, [queuedId]: 2_100 });
    expect(await worker.workers!.sweepNow()).toBe(0);
  } finally {
    await worker.stop();
  }
});

it('starts a reservation whose time has passed and whose job was lost; a confirm-and-send request is left waiting', async () => {
  const api = await startTestService({ db, smtpUrl: sink.url, workers: false });
  const reserved = await api.call('POST', '/api/v1/mails', { body: { ...body(5), reservationUtc: Date.now() + 3_600_000 } });
  const confirm = await api.call('POST', '/api/v1/mails', { body: { ...body(3), confirmAndSend: true } });
  expect(reserved.status).toBe(201);
  expect(confirm.status).toBe(201);
  const reservedId = String(BigInt(reserved.body.requestId.slice(8)));
  // Its time came while its job was lost.
  await sql`DELETE FROM pgboss.job WHERE name = 'start-reservation' AND data->>'requestId' = ${reservedId}`.execute(db.db);
  await sql`UPDATE mail_requests SET reservation_at = now() - interval '5 minutes' WHERE id = ${reservedId}`.execute(db.db);
  await sql`UPDATE mails SET next_attempt_at = now() - interval '5 minutes' WHERE request_id = ${reservedId}`.execute(db.db);
  await api.stop();

  const worker = await startTestService({ db, smtpUrl: sink.url, box: api.box, key: api.key });
  try {
    expect(await worker.workers!.sweepNow()).toBe(1);
    const code = async (id: string) => (await worker.call('GET', `/api/v1/mails/requests?requestId=${id}`)).body.content[0].emailStatus.code;
    await waitFor(async () => (await code(reserved.body.requestId)) === 'S', 30_000, 'the reservation sent');
    expect(await code(confirm.body.requestId)).toBe('R');
    expect(await worker.workers!.sweepNow()).toBe(0);
  } finally {
    await worker.stop();
  }
});

it('rolls up a request left sending (I) with nothing left to send, and gives a swept reservation its start time', async () => {
  const api = await startTestService({ db, smtpUrl: sink.url, workers: false });
  const lost = await api.call('POST', '/api/v1/mails', { body: body(2) });
  const reserved = await api.call('POST', '/api/v1/mails', { body: { ...body(1), reservationUtc: Date.now() + 3_600_000 } });
  expect(lost.status).toBe(201);
  const lostId = String(BigInt(lost.body.requestId.slice(8)));
  const reservedId = String(BigInt(reserved.body.requestId.slice(8)));
  // Every mail recorded, but the roll-up was lost (a kill between recording and rolling up).
  await sql`UPDATE recipients SET status = 'S', result_code = 'MAIL_SENT', finished_at = now() WHERE request_id = ${lostId}`.execute(db.db);
  await sql`UPDATE mails SET status = 'S', finished_at = now() WHERE request_id = ${lostId}`.execute(db.db);
  await sql`UPDATE mail_requests SET created_at = now() - interval '5 minutes' WHERE id = ${lostId}`.execute(db.db);
  await sql`DELETE FROM pgboss.job WHERE name = 'start-reservation' AND data->>'requestId' = ${reservedId}`.execute(db.db);
  await sql`UPDATE mail_requests SET reservation_at = now() - interval '5 minutes' WHERE id = ${reservedId}`.execute(db.db);
  await sql`UPDATE mails SET next_attempt_at = now() - interval '5 minutes' WHERE request_id = ${reservedId}`.execute(db.db);
  await api.stop();

  const worker = await startTestService({ db, smtpUrl: sink.url, box: api.box, key: api.key });
  try {
    await worker.workers!.sweepNow();
    const row = async (id: string) => (await worker.call('GET', `/api/v1/mails/requests?requestId=${id}`)).body.content[0];
    expect((await row(lost.body.requestId)).emailStatus.code).toBe('S');
    const sent = await waitFor(
      async () => {
        const r = await row(reserved.body.requestId);
        return r.emailStatus.code === 'S' && r;
      },
      30_000,
      'the swept reservation sent',
    );
    // its elapsed time counts from its reservation, as for one started by its job
    expect(sent.sendDate).not.toBeNull();
    expect(sent.elapsedTime).not.toBeNull();
  } finally {
    await worker.stop();
  }
});
