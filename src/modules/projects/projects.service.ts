import crypto from 'node:crypto';
import type { Db, Tx } from '../../db/schema.ts';
import type { SecretBox } from '../../shared/secret-box.ts';
import type { KeyChanges } from './key-changes.ts';
import * as repo from './projects.repository.ts';

export interface CreatedKey {
  projectId: string;
  projectName: string;
  accessKey: string;
  secretKey: string;
}

/**
 * A random base64url token that does not start with "-": one in 64 would, and a command line
 * then reads it as an option (`npm run keys -- revoke -RAx…` was refused as a usage error).
 */
export function randomToken(bytes: number): string {
  for (;;) {
    const token = crypto.randomBytes(bytes).toString('base64url');
    if (!token.startsWith('-')) return token;
  }
}

/** Creates (or reuses, by name) a project and a new key pair for it. The secret is returned once. */
export async function createKey(db: Db, box: SecretBox, projectName: string, pair?: { accessKey: string; secretKey: string }): Promise<CreatedKey> {
  return db.transaction().execute(async (tx) => {
    const project = (await repo.findProjectByName(tx, projectName)) ?? (await repo.insertProject(tx, projectName));
    const created = await insertKeyPair(tx, box, project.id, pair);
    return { projectId: project.id, projectName: project.name, ...created };
  });
}

/** A new key pair of a project that exists (random unless `pair` is given); the secret is stored sealed. */
export async function insertKeyPair(db: Db | Tx, box: SecretBox, projectId: string, pair?: { accessKey: string; secretKey: string }) {
  const accessKey = pair?.accessKey ?? randomToken(15);
  const secretKey = pair?.secretKey ?? randomToken(30);
  await repo.insertAccessKey(db, {
    access_key: accessKey,
    project_id: projectId,
    secret_enc: box.seal(secretKey),
    secret_hint: secretKey.slice(-4),
  });
  return { accessKey, secretKey };
}

export type EnsureResult = { kind: 'created'; key: CreatedKey } | { kind: 'exists' } | { kind: 'none' };

/**
 * Start-up key handling: with MAILER_ACCESS_KEY/MAILER_SECRET_KEY, make sure that pair exists
 * (in project "default"); without, create a first project and key only when there is no
 * project at all, so the secret is printed exactly once.
 */
export async function ensureStartupKey(db: Db, box: SecretBox, pair: { accessKey: string; secretKey: string } | undefined): Promise<EnsureResult> {
  if (pair) {
    const existing = await repo.findAccessKey(db, pair.accessKey);
    if (existing) {
      if (box.open(existing.secret_enc) !== pair.secretKey) {
        throw new Error('MAILER_ACCESS_KEY exists with a different secret; revoke it or use the stored secret');
      }
      return { kind: 'exists' };
    }
    return { kind: 'created', key: await createKey(db, box, 'default', pair) };
  }
  if ((await repo.countProjects(db)) > 0) return { kind: 'none' };
  return { kind: 'created', key: await createKey(db, box, 'default') };
}

export interface KeyLookup {
  projectId: string;
  secret: string;
}

/**
 * Resolves an access key to its project and secret, with a short cache so that signed requests
 * do not cost a query and a decryption each. With `changes` (LISTEN on key changes) a revoked
 * key is dropped from the cache as soon as the revocation commits, on every instance, and the
 * cache is bypassed while the listener is down; without it revocation takes up to `ttlMs`.
 */
export function createKeyResolver(db: Db, box: SecretBox, ttlMs = 10_000, changes?: KeyChanges) {
  const cache = new Map<string, { value: KeyLookup | null; expires: number }>();
  // Requests that miss together share one lookup: at an entry's expiry every request arriving
  // during the read used to read too (365 lookups for 2,200 requests at 100/s on a busy machine).
  const reading = new Map<string, { generation: number | undefined; value: Promise<KeyLookup | null> }>();
  changes?.onChange((accessKey) => cache.delete(accessKey));

  async function read(accessKey: string, now: number, cacheable: boolean, generation: number | undefined): Promise<KeyLookup | null> {
    const row = await repo.findAccessKey(db, accessKey);
    const value = row && !row.revoked_at ? { projectId: row.project_id, secret: box.open(row.secret_enc) } : null;
    // A change announced while we read may be older than what we read: don't cache it.
    if (!cacheable || (changes && (changes.generation() !== generation || !changes.listening()))) return value;
    if (cache.size > 10_000) cache.clear();
    cache.set(accessKey, { value, expires: now + ttlMs });
    return value;
  }

  async function resolveKey(accessKey: string): Promise<KeyLookup | null> {
    const now = Date.now();
    const cacheable = !changes || changes.listening();
    const hit = cacheable ? cache.get(accessKey) : undefined;
    if (hit && hit.expires > now) return hit.value;
    const generation = changes?.generation();
    // Only a read begun since the last key change may answer for this request too.
    const pending = reading.get(accessKey);
    if (pending && pending.generation === generation) return pending.value;
    const value = read(accessKey, now, cacheable, generation);
    reading.set(accessKey, { generation, value });
    try {
      return await value;
    } finally {
      if (reading.get(accessKey)?.value === value) reading.delete(accessKey);
    }
  }

  return Object.assign(resolveKey, {
    /** the box the secrets are sealed with: keys created through the API (POST /access-keys) use it too */
    box,
    /**
     * Drops a key from this instance's cache at once (after revoking it here); other instances
     * drop it on the change notification, or after `ttlMs` without a listener.
     */
    forget(accessKey: string) {
      cache.delete(accessKey);
      reading.delete(accessKey);
    },
  });
}
export type KeyResolver = ReturnType<typeof createKeyResolver>;
