import { describe, expect, it } from '@jest/globals';
import supertest from 'supertest';
import { signRequest } from '../../src/http/signature.ts';
import { revokeAccessKey } from '../../src/modules/projects/projects.repository.ts';
import type { CreatedKey } from '../../src/modules/projects/projects.service.ts';
import { useTestService } from '../helpers/use-test-service.ts';

/**
 * NCP API Gateway signature v2, as existing NCP clients sign: every failure is the gateway's 401 with exactly
 * {"error":{"errorCode":"200","message":"Authentication Failed"}}, never 400 or 403.
 */

const { svc } = useTestService({ workers: false });

const AUTH_FAILED = { error: { errorCode: '200', message: 'Authentication Failed' } };
const LIST = '/api/v1/mails/requests';

interface SignOpts {
  method?: string;
  target?: string;
  key?: CreatedKey;
  timestamp?: number | string;
  /** header carrying the signature */
  signatureHeader?: string;
  /** replaces the computed signature */
  signature?: string;
  /** sign this target instead of the one sent */
  signedTarget?: string;
  /** headers to leave out */
  omit?: string[];
  accessKeyHeader?: string;
}

/** A request with hand-made auth headers (call() always signs correctly). */
function raw(o: SignOpts = {}): supertest.Test {
  const method = (o.method ?? 'GET').toUpperCase();
  const target = o.target ?? LIST;
  const key = o.key ?? svc.key;
  const ts = String(o.timestamp ?? Date.now());
  const accessKey = o.accessKeyHeader ?? key.accessKey;
  const signature = o.signature ?? signRequest(key.secretKey, method, o.signedTarget ?? target, ts, accessKey);
  const headers: Record<string, string> = {
    'x-ncp-apigw-timestamp': ts,
    'x-ncp-iam-access-key': accessKey,
    [o.signatureHeader ?? 'x-ncp-apigw-signature-v2']: signature,
  };
  const agent = supertest(svc.app) as unknown as Record<string, (url: string) => supertest.Test>;
  let t = agent[method.toLowerCase()]!(target);
  for (const [h, v] of Object.entries(headers)) if (!o.omit?.includes(h)) t = t.set(h, v);
  return t;
}

function expectAuthFailed(res: supertest.Response) {
  expect(res.status).toBe(401);
  expect(res.body).toEqual(AUTH_FAILED);
  expect(res.headers['x-ncp-trace-id']).toMatch(/^\S+$/);
}

describe('signature v2', () => {
  it('accepts a correctly signed request', async () => {
    const res = await raw();
    expect(res.status).toBe(200);
    expect(res.body.content).toEqual([]);
  });

  it('accepts a correctly signed request through the test helper', async () => {
    const res = await svc.call('GET', LIST);
    expect(res.status).toBe(200);
  });

  it('accepts a timestamp 4 minutes old and 4 minutes ahead', async () => {
    expect((await raw({ timestamp: Date.now() - 4 * 60_000 })).status).toBe(200);
    expect((await raw({ timestamp: Date.now() + 4 * 60_000 })).status).toBe(200);
  });

  it('refuses a timestamp more than 5 minutes old with exactly the gateway 401 body', async () => {
    const res = await raw({ timestamp: Date.now() - 5 * 60_000 - 30_000 });
    expectAuthFailed(res);
    expect(res.text).toBe('{"error":{"errorCode":"200","message":"Authentication Failed"}}');
  });

  it('refuses a timestamp more than 5 minutes in the future', async () => {
    expectAuthFailed(await raw({ timestamp: Date.now() + 6 * 60_000 }));
  });

  it('refuses a timestamp in seconds instead of milliseconds', async () => {
    expectAuthFailed(await raw({ timestamp: Math.floor(Date.now() / 1000) }));
  });

  it('refuses a non-numeric timestamp', async () => {
    expectAuthFailed(await raw({ timestamp: 'yesterday' }));
  });

  it('refuses an unknown access key with 401 (not 400/403)', async () => {
    expectAuthFailed(await raw({ accessKeyHeader: 'NO_SUCH_ACCESS_KEY_123' }));
  });

  it('refuses an empty access key with 401', async () => {
    expectAuthFailed(await raw({ accessKeyHeader: '' }));
  });

  it('refuses a request without any auth header', async () => {
    const res = await supertest(svc.app).get(LIST);
    expectAuthFailed(res);
  });

  it.each(['x-ncp-apigw-timestamp', 'x-ncp-iam-access-key', 'x-ncp-apigw-signature-v2'])('refuses a request missing %s', async (h) => {
    expectAuthFailed(await raw({ omit: [h] }));
  });

  it('refuses a bad signature', async () => {
    expectAuthFailed(await raw({ signature: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' }));
  });

  it('refuses a signature that is not even base64', async () => {
    expectAuthFailed(await raw({ signature: 'not a signature' }));
  });

  it("refuses a signature made with another key's secret", async () => {
    const other = await svc.newKey('auth-other');
    expectAuthFailed(
      await raw({ accessKeyHeader: svc.key.accessKey, signature: signRequest(other.secretKey, 'GET', LIST, String(Date.now()), svc.key.accessKey) }),
    );
  });

  it('refuses a signature over another method', async () => {
    const ts = String(Date.now());
    expectAuthFailed(await raw({ timestamp: ts, signature: signRequest(svc.key.secretKey, 'POST', LIST, ts, svc.key.accessKey) }));
  });

  it('refuses a signature over another target (query left out)', async () => {
    expectAuthFailed(await raw({ target: `${LIST}?size=5`, signedTarget: LIST }));
  });

  it('refuses a POST /mails with a bad signature before looking at the body (401, not 400)', async () => {
    const res = await raw({ method: 'POST', target: '/api/v1/mails', signature: 'bad' }).send({});
    expectAuthFailed(res);
  });

  it('refuses a POST /mails with malformed JSON and no signature with 401, not 400', async () => {
    const res = await supertest(svc.app).post('/api/v1/mails').set('Content-Type', 'application/json').send('{not json');
    expectAuthFailed(res);
  });

  it('accepts the same signature sent as x-ncp-apigw-signature-v1', async () => {
    const res = await raw({ signatureHeader: 'x-ncp-apigw-signature-v1' });
    expect(res.status).toBe(200);
  });

  it('refuses a bad signature sent as x-ncp-apigw-signature-v1', async () => {
    expectAuthFailed(await raw({ signatureHeader: 'x-ncp-apigw-signature-v1', signature: 'AAAA' }));
  });

  it('verifies the raw target: a query encoded by URLSearchParams (+ for space, %3A, %40) passes', async () => {
    const qs = new URLSearchParams({ title: 'a b', startDateTime: '2025-01-01 00:00', senderAddress: 'a@b.com' }).toString();
    expect(qs).toBe('title=a+b&startDateTime=2025-01-01+00%3A00&senderAddress=a%40b.com');
    const target = `${LIST}?${qs}`;
    const res = await raw({ target });
    expect(res.status).toBe(200);
    expect(res.body.content).toEqual([]);
  });

  it('verifies the raw target: the same query signed in decoded form does not pass', async () => {
    const target = `${LIST}?title=a+b&startDateTime=2025-01-01+00%3A00&senderAddress=a%40b.com`;
    expectAuthFailed(await raw({ target, signedTarget: `${LIST}?title=a b&startDateTime=2025-01-01 00:00&senderAddress=a@b.com` }));
  });

  it('verifies the raw target: %20 for space and repeated keys pass as sent', async () => {
    const target = `${LIST}?title=a%20b&sendStatus=S&sendStatus=PF&sort=createUtc%2Cdesc`;
    const res = await raw({ target });
    expect(res.status).toBe(200);
  });

  it('refuses a revoked key (resolver cache ttl 0 in tests)', async () => {
    const key = await svc.newKey('auth-revoked');
    expect((await raw({ key })).status).toBe(200);
    expect(await revokeAccessKey(svc.db.db, key.accessKey)).toBe(true);
    expectAuthFailed(await raw({ key }));
  });

  it('keeps another key of the same project working after one is revoked', async () => {
    const a = await svc.newKey('auth-two-keys');
    const b = await svc.newKey('auth-two-keys');
    await revokeAccessKey(svc.db.db, a.accessKey);
    expectAuthFailed(await raw({ key: a }));
    expect((await raw({ key: b })).status).toBe(200);
  });
});

describe('x-ncp-trace-id', () => {
  it('is on a successful response', async () => {
    const res = await svc.call('GET', LIST);
    expect(res.status).toBe(200);
    expect(res.headers['x-ncp-trace-id']).toMatch(/^[0-9a-f]{32}$/);
  });

  it('is on a 401', async () => {
    const res = await supertest(svc.app).get(LIST);
    expect(res.status).toBe(401);
    expect(res.headers['x-ncp-trace-id']).toMatch(/^[0-9a-f]{32}$/);
  });

  it('is on a 404 for an unknown signed path under /api/v1, with the gateway body', async () => {
    const res = await svc.call('GET', '/api/v1/no-such-thing');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { errorCode: '300', message: 'Not Found Exception' } });
    expect(res.headers['x-ncp-trace-id']).toMatch(/^[0-9a-f]{32}$/);
  });

  it('is on a 404 outside /api/v1', async () => {
    const res = await supertest(svc.app).get('/nothing-here');
    expect(res.status).toBe(404);
    expect(res.headers['x-ncp-trace-id']).toMatch(/^[0-9a-f]{32}$/);
  });

  it('is on a 400', async () => {
    const res = await svc.call('POST', '/api/v1/mails', { body: {} });
    expect(res.status).toBe(400);
    expect(res.headers['x-ncp-trace-id']).toMatch(/^[0-9a-f]{32}$/);
  });

  it('differs between requests', async () => {
    const a = await svc.call('GET', LIST);
    const b = await svc.call('GET', LIST);
    expect(a.headers['x-ncp-trace-id']).not.toBe(b.headers['x-ncp-trace-id']);
  });
});
