import { expect } from '@jest/globals';
import type supertest from 'supertest';

/**
 * A service error in NCP's envelope, exactly as the one error mapper writes it: 400 with
 * {"error":{"code","errorCode","message"}}, both codes the same string; the message matched or contained.
 */
export function expectError(res: { status: number; body: any }, code: '77102' | '77103', message?: string | RegExp): void {
  expect({ status: res.status, body: res.body }).toEqual({ status: 400, body: { error: { code, errorCode: code, message: expect.any(String) } } });
  if (typeof message === 'string') expect(res.body.error.message).toContain(message);
  else if (message) expect(res.body.error.message).toMatch(message);
}

/** A download: the body as bytes, or parsed when the answer is JSON (an error envelope), so errors read like any other answer. */
export function asFile(test: supertest.Test): supertest.Test {
  return test.buffer(true).parse((res, cb) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      const buf = Buffer.concat(chunks);
      cb(null, String(res.headers['content-type']).includes('json') ? JSON.parse(buf.toString('utf8')) : buf);
    });
  });
}
