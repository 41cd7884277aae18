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

it('re-queues due mails whose job was lost, and leaves chunks that have a job alone', async () => {
  // Stored by an API-only instance; then its jobs are lost (deleted) and its mails are long due.
  const api = await startTestService({ db, smtpUrl: sink.url, workers: false });
  const lost = await api.call('POST', '/api/v1/mails', { body: body(1500) });
  const kept = await api.call('POST', '/api/v1/mails', { body: body(10) });
  expect(lost.status).toBe(201);
  expect(kept.status).toBe(201);
  const lostId = String(BigInt(lost.body.requestId.slice(8)));
  await sql`DELETE FROM pgboss.job WHERE name = 'deliver-chunk' AND data->>'requestId' = ${lostId}`.execute(db.db);
  await sql`UPDATE mails SET next_attempt_at = now() - interval '5 minutes'`.execute(db.db);
  await api.stop();

  // A worker that polls nothing for the lost request: only the sweeper can find it.
  const worker = await startTestService({ db, smtpUrl: sink.url, box: api.box, key: api.key });
  try {
    const requeued = await worker.workers!.sweepNow();
    expect(requeued).toBe(2); // 1,500 mails = chunks 1-1000 and 1001-2000; the kept request has its job
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
