import type { components } from '../../generated/api.ts';
import type { AppDeps } from '../../deps.ts';
import { toNesDateTime } from '../../shared/clock.ts';
import { authenticationFailed, badRequest, notFound } from '../../shared/errors.ts';
import * as repo from './projects.repository.ts';
import { insertKeyPair } from './projects.service.ts';

type Schemas = components['schemas'];
export type AccessKey = Schemas['AccessKey'];
export type AccessKeyCreated = Schemas['AccessKeyCreated'];

const PRINTABLE_KEY = /^[\x20-\x7e]{1,1000}$/;

type Deps = Pick<AppDeps, 'db' | 'config' | 'resolveKey'>;
type KeyRow = { access_key: string; secret_hint: string; created_at: Date; revoked_at: Date | null };

function toAccessKey(deps: Deps, row: KeyRow, callerKey: string): AccessKey {
  return {
    accessKey: row.access_key,
    secretKeyHint: row.secret_hint,
    createDate: toNesDateTime(row.created_at, deps.config.displayTimezone)!,
    revoked: row.revoked_at !== null,
    revokeDate: toNesDateTime(row.revoked_at, deps.config.displayTimezone),
    inUse: row.access_key === callerKey,
  };
}

/** getAccessKeyList: the calling project's keys, revoked ones included; never a secret. */
export async function listAccessKeys(deps: Deps, projectId: string, callerKey: string): Promise<{ content: AccessKey[] }> {
  const rows = await repo.listProjectAccessKeys(deps.db, projectId);
  return { content: rows.map((r) => toAccessKey(deps, r, callerKey)) };
}

/** createAccessKey: a new pair of the calling project, as `npm run keys -- create` makes; the secret is returned this once. */
export async function createAccessKey(deps: Deps, projectId: string, callerKey: string): Promise<AccessKeyCreated> {
  const pair = await insertKeyPair(deps.db, deps.resolveKey.box, projectId);
  const row = await repo.findProjectAccessKey(deps.db, projectId, pair.accessKey);
  return { ...toAccessKey(deps, row!, callerKey), secretKey: pair.secretKey };
}

/**
 * revokeAccessKey: as `npm run keys -- revoke`, limited to the calling project. The update fires
 * the access_key_changed notification (migrations), which drops the key from every instance's
 * resolver cache; this instance drops it at once too. The caller's own key is refused: the
 * request (or console session) would cut the branch it sits on.
 */
export async function revokeAccessKey(deps: Deps, projectId: string, callerKey: string, accessKey: string): Promise<AccessKey> {
  if (accessKey === callerKey) {
    throw badRequest('accessKey: the key this request is signed with cannot be revoked; use another key of the project to revoke it');
  }
  // A key travels in a header: printable ASCII. Anything else (a NUL, which PostgreSQL can't
  // even compare) names no key.
  if (!PRINTABLE_KEY.test(accessKey)) throw notFound(`accessKey: key ${JSON.stringify(accessKey.slice(0, 100))} does not exist`);
  // Both keys locked (in one order) and the caller's checked still active: two keys revoking each
  // other at the same moment would otherwise both succeed and leave the project without a key.
  const row = await deps.db.transaction().execute(async (tx) => {
    const locked = await repo.lockProjectAccessKeys(tx, projectId, [callerKey, accessKey]);
    if (!locked.some((k) => k.access_key === callerKey && k.revoked_at === null)) throw authenticationFailed();
    return repo.revokeProjectAccessKey(tx, projectId, accessKey);
  });
  if (!row) {
    const existing = await repo.findProjectAccessKey(deps.db, projectId, accessKey);
    throw notFound(existing ? `accessKey: key ${accessKey} is already revoked` : `accessKey: key ${accessKey} does not exist`);
  }
  deps.resolveKey.forget(accessKey);
  return toAccessKey(deps, row, callerKey);
}
