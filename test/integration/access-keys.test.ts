// getAccessKeyList, createAccessKey, revokeAccessKey (extension, issue 14 item 4): the signed-in
// project's keys, for the console's access-key screen. Signed API; a project sees and revokes only
// its own keys; a revoked key stops authenticating at once, also where the resolver caches keys.
import { beforeAll, describe, expect, it } from '@jest/globals';
import supertest from 'supertest';
import { createApp } from '../../src/app.ts';
import { signRequest } from '../../src/http/signature.ts';
import { createLogger } from '../../src/logger.ts';
import { listenForKeyChanges, type KeyChanges } from '../../src/modules/projects/key-changes.ts';
import { createKeyResolver, type CreatedKey } from '../../src/modules/projects/projects.service.ts';
import { expectError } from '../helpers/responses.ts';
import { useTestService } from '../helpers/use-test-service.ts';

const { svc } = useTestService({ workers: false });
let other: CreatedKey;

beforeAll(async () => {
  other = await svc.newKey('other-project');
});

const asKey = (k: { accessKey: string; secretKey: string }): CreatedKey => ({ ...k, projectId: svc.key.projectId, projectName: svc.key.projectName });

/** A signed request to another app (an instance with its own key cache). */
function signedOn(app: ReturnType<typeof createApp>, method: 'GET' | 'DELETE', target: string, key: { accessKey: string; secretKey: string }) {
  const ts = String(Date.now());
  const agent = supertest(app);
  const t = method === 'GET' ? agent.get(target) : agent.delete(target);
  return t
    .set('x-ncp-apigw-timestamp', ts)
    .set('x-ncp-iam-access-key', key.accessKey)
    .set('x-ncp-apigw-signature-v2', signRequest(key.secretKey, method, target, ts, key.accessKey));
}

describe('getAccessKeyList', () => {
  it("lists the project's keys without secrets, marks the caller's key, and leaves other projects' keys out", async () => {
    const res = await svc.call('GET', '/api/v1/access-keys');
    expect(res.status).toBe(200);
    expect(res.body.content).toEqual([
      {
        accessKey: svc.key.accessKey,
        secretKeyHint: svc.key.secretKey.slice(-4),
        createDate: expect.objectContaining({ utc: expect.any(Number) }),
        revoked: false,
        revokeDate: null,
        inUse: true,
      },
    ]);
    expect(JSON.stringify(res.body)).not.toContain(svc.key.secretKey);
    const theirs = await svc.call('GET', '/api/v1/access-keys', { key: other });
    expect(theirs.body.content.map((k: { accessKey: string }) => k.accessKey)).toEqual([other.accessKey]);
  });

  it('answers 401 unsigned', async () => {
    expect((await supertest(svc.app).get('/api/v1/access-keys')).status).toBe(401);
  });
});

describe('createAccessKey', () => {
  it('creates a pair of the calling project (201, the secret shown once) that signs requests at once', async () => {
    const res = await svc.call('POST', '/api/v1/access-keys');
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ revoked: false, revokeDate: null, inUse: false });
    const created = asKey(res.body);
    expect(created.accessKey).toMatch(/^[\w-]{20}$/);
    expect(created.secretKey).toMatch(/^[\w-]{40}$/);
    expect(res.body.secretKeyHint).toBe(created.secretKey.slice(-4));

    // the new key works, in the same project
    const mine = await svc.call('GET', '/api/v1/access-keys', { key: created });
    expect(mine.status).toBe(200);
    const listed = mine.body.content.find((k: { accessKey: string }) => k.accessKey === created.accessKey);
    expect(listed).toMatchObject({ inUse: true, revoked: false });
    expect(mine.body.content.map((k: { accessKey: string }) => k.accessKey)).toContain(svc.key.accessKey);
    // the secret is never listed again
    expect(JSON.stringify(mine.body)).not.toContain(created.secretKey);
    // not in the other project
    const theirs = await svc.call('GET', '/api/v1/access-keys', { key: other });
    expect(theirs.body.content.map((k: { accessKey: string }) => k.accessKey)).not.toContain(created.accessKey);
  });
});

describe('revokeAccessKey', () => {
  it('revokes a key of the project: it answers 401 from then on and stays listed as revoked', async () => {
    const created = asKey((await svc.call('POST', '/api/v1/access-keys')).body);
    expect((await svc.call('GET', '/api/v1/mails/requests', { key: created })).status).toBe(200);

    const res = await svc.call('DELETE', `/api/v1/access-keys/${created.accessKey}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ accessKey: created.accessKey, revoked: true, revokeDate: expect.objectContaining({ utc: expect.any(Number) }) });

    expect((await svc.call('GET', '/api/v1/mails/requests', { key: created })).status).toBe(401);
    const listed = (await svc.call('GET', '/api/v1/access-keys')).body.content.find((k: { accessKey: string }) => k.accessKey === created.accessKey);
    expect(listed).toMatchObject({ revoked: true, inUse: false });
    // a second revoke: not an active key any more
    expectError(await svc.call('DELETE', `/api/v1/access-keys/${created.accessKey}`), '77103', /already revoked/);
  });

  it('two keys revoking each other at the same moment: one wins, the project keeps a working key', async () => {
    for (let round = 0; round < 5; round++) {
      const a = asKey((await svc.call('POST', '/api/v1/access-keys')).body);
      const b = asKey((await svc.call('POST', '/api/v1/access-keys')).body);
      const [byA, byB] = await Promise.all([
        svc.call('DELETE', `/api/v1/access-keys/${b.accessKey}`, { key: a }),
        svc.call('DELETE', `/api/v1/access-keys/${a.accessKey}`, { key: b }),
      ]);
      expect([byA.status, byB.status].sort()).toEqual([200, 401]);
      const alive = (
        await svc.db.db
          .selectFrom('access_keys')
          .select('access_key')
          .where('access_key', 'in', [a.accessKey, b.accessKey])
          .where('revoked_at', 'is', null)
          .execute()
      ).length;
      expect(alive).toBe(1);
    }
  });

  it("refuses to revoke the caller's own key (400 with a clear message), which keeps working", async () => {
    const res = await svc.call('DELETE', `/api/v1/access-keys/${svc.key.accessKey}`);
    expectError(res, '77102', /signed with cannot be revoked/);
    expect((await svc.call('GET', '/api/v1/access-keys')).status).toBe(200);
  });

  it("can't revoke another project's key (400/77103, as an unknown key), which keeps working", async () => {
    expectError(await svc.call('DELETE', `/api/v1/access-keys/${other.accessKey}`), '77103', /does not exist/);
    expect((await svc.call('GET', '/api/v1/access-keys', { key: other })).status).toBe(200);
    expectError(await svc.call('DELETE', '/api/v1/access-keys/no-such-key'), '77103', /does not exist/);
    // not a key at all (a NUL can't even be compared by the database): the same answer, not a 500
    expectError(await svc.call('DELETE', '/api/v1/access-keys/a%00b'), '77103', /does not exist/);
    expectError(await svc.call('DELETE', `/api/v1/access-keys/${'k'.repeat(2000)}`), '77103', /does not exist/);
  });

  it('a revoked key stops working at once where keys are cached: on the instance that revoked it and, by the change notification, on another', async () => {
    const logger = createLogger('silent');
    const changes: KeyChanges[] = [];
    const instance = async () => {
      const c = await listenForKeyChanges(svc.db.url, logger);
      changes.push(c);
      // production's resolver: cached for a long while, dropped on a change notification
      return createApp({
        config: svc.config,
        db: svc.db.db,
        logger,
        queue: svc.queue,
        now: () => new Date(),
        box: svc.box,
        blobs: svc.blobs,
        resolveKey: createKeyResolver(svc.db.db, svc.box, 600_000, c),
      });
    };
    try {
      const a = await instance();
      const b = await instance();
      const created = asKey((await svc.call('POST', '/api/v1/access-keys')).body);
      // both instances have the key in their cache
      await signedOn(a, 'GET', '/api/v1/access-keys', created).expect(200);
      await signedOn(b, 'GET', '/api/v1/access-keys', created).expect(200);

      await signedOn(a, 'DELETE', `/api/v1/access-keys/${created.accessKey}`, svc.key).expect(200);
      // the instance that revoked it: at once
      await signedOn(a, 'GET', '/api/v1/access-keys', created).expect(401);
      // the other one: as soon as the notification arrives
      let status = 0;
      for (let i = 0; i < 50 && status !== 401; i++) {
        status = (await signedOn(b, 'GET', '/api/v1/access-keys', created)).status;
        if (status !== 401) await new Promise((r) => setTimeout(r, 100));
      }
      expect(status).toBe(401);
    } finally {
      for (const c of changes) await c.stop();
    }
  });
});
