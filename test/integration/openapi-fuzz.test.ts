// The OpenAPI-driven fuzz run of `npm test` (issue 11 §2): every operation of openapi/openapi.yaml,
// every body, query and path field broken in turn (wrong types, NUL, lone surrogates, huge and
// extreme values), malformed JSON and multipart, long query strings; signed like a client. The
// service runs as its own process, so a crash is an exit, not a failed assertion somewhere else.
// Fixed seed: a failure reproduces with `npm run fuzz -- --seed 20261203 --iterations 1 --per-field 2`.
// Longer runs: `npm run fuzz -- --seed N --iterations M` (scripts/fuzz.ts).
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { API_SPEC_PATH } from '../../src/app.ts';
import { createFuzzFixtures, runFuzz } from '../helpers/openapi-fuzz.ts';
import { startServiceProcess, stopAllServiceProcesses, TEST_ACCESS_KEY, TEST_SECRET_KEY, type ServiceProcess } from '../helpers/service-process.ts';
import { startTestSink, type TestSink } from '../helpers/smtp-sink.ts';
import { createTestDb, type TestDb } from '../helpers/test-db.ts';

const SEED = 20261203;
const KEY = { accessKey: TEST_ACCESS_KEY, secretKey: TEST_SECRET_KEY };
let svc: ServiceProcess;
let sink: TestSink;
let db: TestDb;

beforeAll(async () => {
  db = await createTestDb();
  sink = await startTestSink();
  svc = await startServiceProcess({ databaseUrl: db.url, smtpUrl: sink.url, name: 'fuzz', env: { LOG_LEVEL: 'warn' } });
}, 60_000);

afterAll(async () => {
  await stopAllServiceProcesses();
  await sink?.close();
  await db?.drop();
});

it('no request answers 5xx or stops the process', async () => {
  const pathValues = await createFuzzFixtures(svc.port, KEY);
  const report = await runFuzz({ port: svc.port, key: KEY, specPath: API_SPEC_PATH, seed: SEED, perField: 2, pathValues });
  console.log(`openapi fuzz: ${report.cases} cases in ${report.ms} ms (seed ${SEED})`);
  expect(report.cases).toBeGreaterThan(1000);
  expect(report.failures).toEqual([]);
  expect(svc.exitInfo()).toBeUndefined();
  expect((await svc.get('/health')).status).toBe(200);
  // The process-level handlers keep it alive; anything they (or the error handler) logged is a bug.
  expect(
    svc
      .logs()
      .filter((r) => /uncaught|unhandled/i.test(String(r.msg)))
      .map((r) => `${r.msg}: ${r.err?.message ?? ''}`),
  ).toEqual([]);
}, 120_000);
