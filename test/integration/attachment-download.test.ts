import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { beforeAll, describe, expect, it } from '@jest/globals';
import pino from 'pino';
import { createApp } from '../../src/app.ts';
import { signRequest } from '../../src/http/signature.ts';
import { createLogger } from '../../src/logger.ts';
import { cleanupFiles } from '../../src/modules/files/files.service.ts';
import { createKeyResolver, type CreatedKey } from '../../src/modules/projects/projects.service.ts';
import { asFile, expectError } from '../helpers/responses.ts';
import { waitFor } from '../helpers/test-service.ts';
import { useTestService } from '../helpers/use-test-service.ts';

// downloadMailAttachment (extension): GET /mails/{mailId}/attachments/{fileId} answers the
// original bytes of an attachment of the mail's request.

const { svc } = useTestService();
let other: CreatedKey;

beforeAll(async () => {
  other = await svc.newKey('other-project');
});

async function uploadFiles(files: { name: string; data: Buffer }[], key?: CreatedKey): Promise<{ fileId: string }[]> {
  let t = svc.call('POST', '/api/v1/files', { key });
  for (const f of files) t = t.attach('fileList', f.data, f.name);
  const res = await t;
  expect(res.status).toBe(201);
  return res.body.files;
}

/** A sent mail carrying `fileIds`: its mailId. */
async function mailWith(fileIds: string[], key?: CreatedKey): Promise<string> {
  const res = await svc.call('POST', '/api/v1/mails', {
    key,
    body: {
      senderAddress: 'no_reply@company.com',
      title: 'files',
      body: '<p>attached</p>',
      recipients: [{ address: 'r@example.com' }],
      attachFileIds: fileIds,
    },
  });
  expect(res.status).toBe(201);
  return waitFor(
    async () => (await svc.call('GET', `/api/v1/mails/requests/${res.body.requestId}/mails`, { key })).body.content?.[0]?.mailId as string | undefined,
  );
}

const download = (mailId: string, fileId: string, key?: CreatedKey) => asFile(svc.call('GET', `/api/v1/mails/${mailId}/attachments/${fileId}`, { key }));

describe('downloadMailAttachment', () => {
  it('answers the original bytes with the type and an RFC 6266 disposition', async () => {
    // sizes that leave 1 and 2 bytes over a base64 group, and a name in Hangul
    const pdf = crypto.randomBytes(200_001);
    const text = Buffer.from('hello\r\nattachment, "quoted"\n');
    const [a, b] = await uploadFiles([
      { name: '안내문 (1).pdf', data: pdf },
      { name: "50% off's.txt", data: text },
    ]);
    const mailId = await mailWith([a!.fileId, b!.fileId]);

    const first = await download(mailId, a!.fileId);
    expect(first.status).toBe(200);
    expect(first.headers['content-type']).toBe('application/pdf');
    // Served from the console's origin: never sniffed into a script or a page, never run if opened.
    expect(first.headers['x-content-type-options']).toBe('nosniff');
    expect(first.headers['content-security-policy']).toBe("default-src 'none'; sandbox");
    expect(first.headers['content-length']).toBe(String(pdf.length));
    expect(first.headers['content-disposition']).toBe(`attachment; filename="___ (1).pdf"; filename*=UTF-8''%EC%95%88%EB%82%B4%EB%AC%B8%20%281%29.pdf`);
    expect(Buffer.compare(first.body as Buffer, pdf)).toBe(0);

    const second = await download(mailId, b!.fileId);
    expect(second.headers['content-type']).toMatch(/^text\/plain/);
    expect(second.headers['content-disposition']).toBe(`attachment; filename="50_ off's.txt"; filename*=UTF-8''50%25%20off%27s.txt`);
    expect(Buffer.compare(second.body as Buffer, text)).toBe(0);
  });

  it("answers 400/77103 for malformed, unknown, other requests' and other projects' ids", async () => {
    const [mine] = await uploadFiles([{ name: 'a.txt', data: Buffer.from('a') }]);
    const [unrelated] = await uploadFiles([{ name: 'b.txt', data: Buffer.from('b') }]);
    const mailId = await mailWith([mine!.fileId]);
    expectError(await download(mailId, unrelated!.fileId), '77103', 'fileId');
    expectError(await download(mailId, 'nope'), '77103');
    expectError(await download('123', mine!.fileId), '77103');
    expectError(await download('20990101000000000001', mine!.fileId), '77103');
    expectError(await download(mailId, mine!.fileId, other), '77103');

    const [theirs] = await uploadFiles([{ name: 't.txt', data: Buffer.from('t') }], other);
    const theirMail = await mailWith([theirs!.fileId], other);
    expectError(await download(theirMail, theirs!.fileId), '77103');
    expect((await download(theirMail, theirs!.fileId, other)).status).toBe(200);
  });

  it('answers 400/77103 once the upload is no longer kept, while getMail still lists it', async () => {
    const [f] = await uploadFiles([{ name: 'old.txt', data: Buffer.from('old') }]);
    const mailId = await mailWith([f!.fileId]);
    await waitFor(async () => (await svc.call('GET', `/api/v1/mails/${mailId}`)).body.emailStatus?.code === 'S', 10_000, 'the mail sent');
    await cleanupFiles({
      db: svc.db.db,
      config: svc.config,
      blobs: svc.blobs,
      now: () => new Date(Date.now() + 25 * 3600_000),
      logger: createLogger('silent'),
    });
    expectError(await download(mailId, f!.fileId), '77103', 'no longer kept');
    expect((await svc.call('GET', `/api/v1/mails/${mailId}`)).body.attachFiles).toEqual([{ fileId: f!.fileId, fileName: 'old.txt', fileSize: 3 }]);
  });

  it('a client that drops the download is logged as such, not as an error, and the service goes on', async () => {
    const lines: { level: number; msg: string }[] = [];
    const logger = pino(
      { level: 'debug' },
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          for (const l of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(l));
          cb();
        },
      }),
    );
    const app = createApp({
      config: svc.config,
      db: svc.db.db,
      logger,
      queue: svc.queue,
      now: () => new Date(),
      box: svc.box,
      blobs: svc.blobs,
      resolveKey: createKeyResolver(svc.db.db, svc.box, 0),
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const [big] = await uploadFiles([{ name: 'big.bin', data: crypto.randomBytes(9 * 1024 * 1024) }]);
      const mailId = await mailWith([big!.fileId]);
      const target = `/api/v1/mails/${mailId}/attachments/${big!.fileId}`;
      const ts = String(Date.now());
      const headers = {
        'x-ncp-apigw-timestamp': ts,
        'x-ncp-iam-access-key': svc.key.accessKey,
        'x-ncp-apigw-signature-v2': signRequest(svc.key.secretKey, 'GET', target, ts, svc.key.accessKey),
      };
      await new Promise<void>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: target, headers }, (res) => {
          expect(res.statusCode).toBe(200);
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', (err) => (err.message.includes('socket hang up') || (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
      });
      await waitFor(async () => lines.some((l) => l.msg === 'attachment download aborted by the client'), 5_000, 'the abort logged');
      expect(lines.filter((l) => l.level >= 50)).toEqual([]);
      expect((await download(mailId, big!.fileId)).status).toBe(200);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
