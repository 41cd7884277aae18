// npm run fuzz -- --seed N --iterations M
//
// The OpenAPI-driven fuzzer (test/helpers/openapi-fuzz.ts) for longer runs than `npm test`'s:
// M rounds over every operation, round i seeded N+i, against the service started as
// `node src/main.ts` in its own process (a crash is seen as the child exiting), on a fresh
// database of DATABASE_URL's server (dropped after) or an embedded PostgreSQL, and a local SMTP
// sink. Prints every 5xx (and every connection closed unanswered) with its case; exit status 1
// when there was any, or when the process died.
//   --seed N         first seed (default: the time)
//   --iterations M   rounds (default 1)
//   --per-field K    random mutations per field and round, besides the fixed ones (default 4)
//   --verbose        print every case (status, operation, what was broken)
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { API_SPEC_PATH } from '../src/app.ts';
import { startEmbeddedPostgres, type EmbeddedDb } from '../src/db/embedded.ts';
import { createFuzzFixtures, runFuzz, type FuzzCase } from '../test/helpers/openapi-fuzz.ts';
import { adminQuery, withDatabase } from '../test/helpers/pg-admin.ts';
import { startServiceProcess, TEST_ACCESS_KEY, TEST_SECRET_KEY } from '../test/helpers/service-process.ts';
import { startTestSink } from '../test/helpers/smtp-sink.ts';

const { values } = parseArgs({
  options: { seed: { type: 'string' }, iterations: { type: 'string' }, 'per-field': { type: 'string' }, verbose: { type: 'boolean' } },
});
const seed = values.seed !== undefined ? Number(values.seed) : Date.now() % 2 ** 31;
const iterations = Number(values.iterations ?? 1);
const perField = Number(values['per-field'] ?? 4);
if (!Number.isInteger(seed) || !Number.isInteger(iterations) || iterations < 1 || !Number.isInteger(perField) || perField < 0) {
  console.error('usage: npm run fuzz -- --seed N --iterations M [--per-field K]');
  process.exit(2);
}

let embedded: EmbeddedDb | undefined;
let tmp: string | undefined;
let adminUrl = process.env.DATABASE_URL;
if (!adminUrl) {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'mailer-fuzz-pg-'));
  await fs.chmod(tmp, 0o777);
  embedded = await startEmbeddedPostgres({ dir: path.join(tmp, 'pg'), database: 'postgres' });
  adminUrl = embedded.url;
}
const dbName = `mailer_fuzz_${crypto.randomBytes(4).toString('hex')}`;
await adminQuery(adminUrl, `CREATE DATABASE ${dbName}`);
const sink = await startTestSink();
const key = { accessKey: TEST_ACCESS_KEY, secretKey: TEST_SECRET_KEY };
let failed = false;
const svc = await startServiceProcess({ databaseUrl: withDatabase(adminUrl, dbName), smtpUrl: sink.url, name: 'fuzz', env: { LOG_LEVEL: 'warn' } });
try {
  const pathValues = await createFuzzFixtures(svc.port, key);
  let cases = 0;
  const failures: FuzzCase[] = [];
  const started = Date.now();
  for (let i = 0; i < iterations && !svc.exitInfo(); i++) {
    const report = await runFuzz({
      port: svc.port,
      key,
      specPath: API_SPEC_PATH,
      seed: seed + i,
      perField,
      pathValues,
      onCase: values.verbose
        ? (c) =>
            console.log(
              `${c.status} ${c.ms}ms ${c.operationId} [${c.what}] ${c.method} ${c.target.slice(0, 120)} ${c.status >= 300 ? c.body.slice(0, 200) : ''}`,
            )
        : undefined,
    });
    cases += report.cases;
    failures.push(...report.failures);
    console.log(`round ${i + 1}/${iterations} (seed ${seed + i}): ${report.cases} cases, ${report.failures.length} failures, ${report.ms} ms`);
  }
  for (const f of failures) console.log(`FAIL ${f.status} ${f.operationId} [${f.what}] ${f.method} ${f.target}\n     ${f.body}`);
  const uncaught = svc.logs().filter((r) => /uncaught|unhandled/i.test(String(r.msg)));
  for (const r of uncaught) console.log(`LOGGED ${r.msg}: ${JSON.stringify(r.err ?? r).slice(0, 500)}`);
  const exit = svc.exitInfo();
  if (exit) console.log(`the service exited (code ${exit.code}, signal ${exit.signal}):\n${svc.tail(40)}`);
  console.log(`${cases} cases in ${Date.now() - started} ms, seed ${seed}, ${iterations} round(s): ${failures.length} failures${exit ? ', service DIED' : ''}`);
  failed = failures.length > 0 || uncaught.length > 0 || !!exit;
} finally {
  await svc.stop(5000);
  await sink.close();
  await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
  await embedded?.stop();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
