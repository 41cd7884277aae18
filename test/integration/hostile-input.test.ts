// Hostile input against the real service process (issue 11 §2, §5): bodies that broke the
// parser's streams, values Postgres refuses (NUL, lone surrogates), extreme dates, huge query
// strings, HEAD. Every answer is a 4xx in NCP's envelope and the process is still alive after.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { startServiceProcess, stopAllServiceProcesses, TEST_ACCESS_KEY, TEST_SECRET_KEY, type ServiceProcess } from '../helpers/service-process.ts';
import { multipartBody, signedRaw } from '../helpers/raw-http.ts';
import { startTestSink, type TestSink } from '../helpers/smtp-sink.ts';
import { createTestDb, type TestDb } from '../helpers/test-db.ts';

const KEY = { accessKey: TEST_ACCESS_KEY, secretKey: TEST_SECRET_KEY };
let svc: ServiceProcess;
let sink: TestSink;
let db: TestDb;

beforeAll(async () => {
  db = await createTestDb();
  sink = await startTestSink();
  svc = await startServiceProcess({ databaseUrl: db.url, smtpUrl: sink.url, name: 'hostile' });
}, 60_000);

// A case that stops the process fails itself (expectAlive); the next one gets a new process.
beforeEach(async () => {
  if (svc.exitInfo()) svc = await startServiceProcess({ databaseUrl: db.url, smtpUrl: sink.url, name: 'hostile' });
}, 60_000);

afterAll(async () => {
  await stopAllServiceProcesses();
  await sink?.close();
  await db?.drop();
});

async function expectAlive() {
  expect(svc.exitInfo()).toBeUndefined();
  const health = await svc.get('/health');
  expect(health.status).toBe(200);
}

function expectNcpError(res: { status: number; json: any }, status = 400) {
  expect({ status: res.status, error: res.json?.error }).toMatchObject({ status, error: { errorCode: expect.any(String), message: expect.any(String) } });
}

describe('multipart bodies that used to stop the process', () => {
  const B = 'xBOUNDARYx';
  const good = { headers: ['Content-Disposition: form-data; name="fileList"; filename="a.txt"', 'Content-Type: text/plain'], content: 'hello' };

  it('a part header with a raw CR LF in the filename after a good part: 400, process alive', async () => {
    const body = Buffer.concat([
      multipartBody(B, [good], false),
      Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="fileList"; filename="b\r\n.txt"\r\n\r\nworld\r\n--${B}--\r\n`),
    ]);
    const res = await signedRaw(svc.port, KEY, 'POST', '/api/v1/files', [`content-type: multipart/form-data; boundary=${B}`, `content-length: ${body.length}`], body);
    expectNcpError(res);
    await expectAlive();
  });

  it('a closing boundary cut off: 400, process alive', async () => {
    const body = Buffer.concat([multipartBody(B, [good], false), Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="fileList"; filename="b.txt"\r\n\r\nwor`)]);
    const res = await signedRaw(svc.port, KEY, 'POST', '/api/v1/files', [`content-type: multipart/form-data; boundary=${B}`, `content-length: ${body.length}`], body);
    expectNcpError(res);
    await expectAlive();
  });

  it('chunked transfer encoding with a bad chunk size: the connection fails, the process lives', async () => {
    const part = multipartBody(B, [good], false);
    const body = Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\nzz\r\nbroken\r\n0\r\n\r\n')]);
    const res = await signedRaw(svc.port, KEY, 'POST', '/api/v1/files', [`content-type: multipart/form-data; boundary=${B}`, 'transfer-encoding: chunked'], body);
    expect(res.status === 0 || (res.status >= 400 && res.status < 500)).toBe(true);
    await expectAlive();
  });

  it('recipient files: the same broken bodies answer 400', async () => {
    const body = Buffer.concat([
      multipartBody(B, [{ headers: ['Content-Disposition: form-data; name="file"; filename="r.csv"', 'Content-Type: text/csv'], content: 'address\na@example.com\n' }], false),
      Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="file"; filename="b.csv"\r\n\r\nwor`),
    ]);
    const res = await signedRaw(svc.port, KEY, 'POST', '/api/v1/recipient-files', [`content-type: multipart/form-data; boundary=${B}`, `content-length: ${body.length}`], body);
    expectNcpError(res);
    await expectAlive();
  });

  it('template import: a cut-off body answers 400', async () => {
    const body = Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="file"; filename="t.json"\r\n\r\n{"categories":[`);
    const res = await signedRaw(svc.port, KEY, 'POST', '/api/v1/template/import', [`content-type: multipart/form-data; boundary=${B}`, `content-length: ${body.length}`], body);
    expectNcpError(res);
    await expectAlive();
  });
});
