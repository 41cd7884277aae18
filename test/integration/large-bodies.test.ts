// Memory bounded under concurrency (issue 11 item 3): three concurrent POST /mails of about
// 63 MB each (100,000 recipients × 18 parameters, within MAX_BODY_BYTES) against the real
// service process with its 256 MB heap cap. Before the body budget the second one aborted the
// process ("Reached heap limit"). Now each is answered, 201 or 429 with Retry-After, and the
// process lives on and serves.
import fs from 'node:fs';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { signRequest } from '../../src/http/signature.ts';
import { startServiceProcess, stopAllServiceProcesses, TEST_ACCESS_KEY, TEST_SECRET_KEY, type ServiceProcess } from '../helpers/service-process.ts';
import { createTestDb, type TestDb } from '../helpers/test-db.ts';

function largeBody(tag: string): Buffer {
  const parts: string[] = [];
  for (let i = 0; i < 100_000; i++) {
    const params: string[] = [];
    for (let p = 1; p <= 18; p++) params.push(`"P${String(p).padStart(2, '0')}":"v${p}-${tag}-${String(i).padStart(6, '0')}-abcdefg"`);
    parts.push(`{"address":"user${i}.${tag}@example.com","name":"Recipient ${i}","type":"R","parameters":{${params.join(',')}}}`);
  }
  return Buffer.from(
    `{"senderAddress":"big@example.com","title":"Hello \${P01}","body":"<p>\${P02}</p>","confirmAndSend":true,"recipients":[${parts.join(',')}]}`,
  );
}

/** A signed POST /mails with a long timeout (the helper's call() gives up after 30 s). */
function postMails(port: number, body: Buffer): Promise<{ status: number; retryAfter: string | undefined; text: string }> {
  const target = '/api/v1/mails';
  const ts = String(Date.now());
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: target,
        agent: false,
        timeout: 280_000,
        headers: {
          'content-type': 'application/json',
          'content-length': String(body.length),
          'x-ncp-apigw-timestamp': ts,
          'x-ncp-iam-access-key': TEST_ACCESS_KEY,
          'x-ncp-apigw-signature-v2': signRequest(TEST_SECRET_KEY, 'POST', target, ts, TEST_ACCESS_KEY),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, text: Buffer.concat(chunks).toString() }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 280 s')));
    req.on('error', reject);
    req.end(body);
  });
}

const hwm = (pid: number) => Number(/^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;

describe('large bodies under concurrency', () => {
  let db: TestDb;
  let svc: ServiceProcess;
  beforeAll(async () => {
    db = await createTestDb();
    svc = await startServiceProcess({ databaseUrl: db.url, smtpUrl: 'smtp://127.0.0.1:9', name: 'large-bodies' });
  }, 60_000);
  afterAll(async () => {
    await stopAllServiceProcesses();
    await db.drop();
  });

  it('three concurrent 63 MB POST /mails: no crash, each answered 201 or 429 with Retry-After', async () => {
    const bodies = ['t-a', 't-b', 't-c'].map((tag) => largeBody(tag));
    expect(bodies[0]!.length).toBeGreaterThan(63_000_000);
    const answers = await Promise.all(bodies.map((b) => postMails(svc.port, b)));
    for (const a of answers) {
      if (a.status === 201) continue;
      expect(a.status).toBe(429);
      expect(JSON.parse(a.text)).toEqual({ error: { errorCode: '420', message: 'Rate Limited' } });
      expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    expect(answers.filter((a) => a.status === 201).length).toBeGreaterThanOrEqual(1);
    expect(svc.exitInfo()).toBeUndefined();
    expect(svc.output()).not.toContain('heap out of memory');
    expect((await svc.call('GET', '/api/v1/mails/requests')).status).toBe(200);
    console.log(`3 concurrent 63 MB POSTs: ${answers.map((a) => a.status).join(', ')}; service peak RSS ${Math.round(hwm(svc.pid) / 1048576)} MB`);
  }, 300_000);
});
