import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { useTestService } from '../helpers/use-test-service.ts';

// The signing client (`npm run mailer`, bin/mailer.ts) against the real service over HTTP.

const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'mailer.ts');

const { svc } = useTestService({ workers: false });
let server: Server;

beforeAll(async () => {
  server = svc.app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

function mailer(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = {
    PATH: process.env.PATH ?? '',
    MAILER_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    MAILER_ACCESS_KEY: svc.key.accessKey,
    MAILER_SECRET_KEY: svc.key.secretKey,
  };
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('npm run mailer', () => {
  it('signs a query with non-ASCII text and spaces as it is sent (percent-encoded)', async () => {
    const body = JSON.stringify({ senderAddress: 'a@company.com', title: 'セール 50% off', body: '<p>b</p>', recipients: [{ address: 'r@example.com' }] });
    const created = await mailer('POST', '/api/v1/mails', body);
    expect(created.stderr).toContain('HTTP 201');
    const requestId = JSON.parse(created.stdout).requestId as string;

    for (const title of ['セール', 'セール 50', 'ール 50%25 off']) {
      const res = await mailer('GET', `/api/v1/mails/requests?title=${title}&size=5`);
      expect({ title, stderr: res.stderr, code: res.code }).toEqual({ title, stderr: expect.stringContaining('HTTP 200'), code: 0 });
      expect(JSON.parse(res.stdout).content.map((r: { requestId: string }) => r.requestId)).toEqual([requestId]);
    }
    // an already-encoded query is sent (and signed) as given
    const encoded = await mailer('GET', `/api/v1/mails/requests?title=${encodeURIComponent('セール')}`);
    expect(encoded.stderr).toContain('HTTP 200');
    expect(JSON.parse(encoded.stdout).content).toHaveLength(1);
  });

  it('uploads files as multipart (-F field=@file)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailer-cli-'));
    const pdf = path.join(dir, 'invoice.pdf');
    const bytes = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.from([0, 0xff, 0xfe, 0x80, 0x0d, 0x0a])]);
    fs.writeFileSync(pdf, bytes);
    fs.writeFileSync(path.join(dir, 'terms.txt'), 'terms');
    const res = await mailer('POST', '/api/v1/files', '-F', `fileList=@${pdf}`, '-F', `fileList=@${path.join(dir, 'terms.txt')}`);
    expect(res.stderr).toContain('HTTP 201');
    const files = JSON.parse(res.stdout).files as { fileName: string; fileSize: number }[];
    expect(files.map((f) => [f.fileName, f.fileSize])).toEqual([
      ['invoice.pdf', bytes.length],
      ['terms.txt', 5],
    ]);
    expect(await mailer('POST', '/api/v1/files', '-F', `fileList=@${path.join(dir, 'missing.pdf')}`)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('no file'),
    });
  });

  it('writes a binary download intact with -o FILE', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailer-cli-'));
    const out = path.join(dir, 'form.xlsx');
    const res = await mailer('GET', '/api/v1/recipient-files/form?tags=COUPON', '-o', out);
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/HTTP 200[\s\S]*wrote \d+ bytes/);
    const direct = await svc
      .call('GET', '/api/v1/recipient-files/form?tags=COUPON')
      .buffer(true)
      .parse((r, cb) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => cb(null, Buffer.concat(chunks)));
      });
    const written = fs.readFileSync(out);
    // an .xlsx is a zip: intact means byte for byte what the service sent
    expect(written.subarray(0, 2).toString()).toBe('PK');
    expect(written.length).toBe((direct.body as Buffer).length);
  });

  it('exits 2 with the usage for bad arguments', async () => {
    expect(await mailer('GET')).toMatchObject({ code: 2, stderr: expect.stringContaining('usage:') });
    expect(await mailer('POST', '/api/v1/files', '{}', '-F', 'a=b')).toMatchObject({ code: 2, stderr: expect.stringContaining('can not be sent together') });
  });
});
