import type { Db, Tx } from '../../db/schema.ts';

export async function findProjectByName(db: Db | Tx, name: string) {
  return db.selectFrom('projects').select(['id', 'name', 'created_at']).where('name', '=', name).executeTakeFirst();
}

export async function insertProject(db: Db | Tx, name: string) {
  return db.insertInto('projects').values({ name }).returning(['id', 'name', 'created_at']).executeTakeFirstOrThrow();
}

export async function countProjects(db: Db | Tx): Promise<number> {
  const row = await db
    .selectFrom('projects')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function insertAccessKey(db: Db | Tx, row: { access_key: string; project_id: string; secret_enc: string; secret_hint: string }) {
  await db.insertInto('access_keys').values(row).execute();
}

export async function findAccessKey(db: Db | Tx, accessKey: string) {
  return db
    .selectFrom('access_keys')
    .innerJoin('projects', 'projects.id', 'access_keys.project_id')
    .select(['access_keys.access_key', 'access_keys.project_id', 'access_keys.secret_enc', 'access_keys.revoked_at', 'projects.name as project_name'])
    .where('access_keys.access_key', '=', accessKey)
    .executeTakeFirst();
}

export async function listAccessKeys(db: Db | Tx) {
  return db
    .selectFrom('access_keys')
    .innerJoin('projects', 'projects.id', 'access_keys.project_id')
    .select([
      'access_keys.access_key',
      'access_keys.secret_hint',
      'access_keys.created_at',
      'access_keys.revoked_at',
      'projects.name as project_name',
      'projects.id as project_id',
    ])
    .orderBy('access_keys.created_at')
    .execute();
}

export async function revokeAccessKey(db: Db | Tx, accessKey: string): Promise<boolean> {
  const res = await db
    .updateTable('access_keys')
    .set({ revoked_at: new Date() })
    .where('access_key', '=', accessKey)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** One project's keys, oldest first (no secrets: the hint is the secret's last four characters). */
export async function listProjectAccessKeys(db: Db | Tx, projectId: string) {
  return db
    .selectFrom('access_keys')
    .select(['access_key', 'secret_hint', 'created_at', 'revoked_at'])
    .where('project_id', '=', projectId)
    .orderBy('created_at')
    .orderBy('access_key')
    .execute();
}

/** Revokes a key of this project that is still active; undefined when there is no such key. */
/** The project's rows of these keys, locked until the transaction ends (in key order: no deadlock). */
export async function lockProjectAccessKeys(tx: Tx, projectId: string, accessKeys: string[]) {
  return tx
    .selectFrom('access_keys')
    .select(['access_key', 'revoked_at'])
    .where('project_id', '=', projectId)
    .where('access_key', 'in', accessKeys)
    .orderBy('access_key')
    .forUpdate()
    .execute();
}

export async function revokeProjectAccessKey(db: Db | Tx, projectId: string, accessKey: string) {
  return db
    .updateTable('access_keys')
    .set({ revoked_at: new Date() })
    .where('access_key', '=', accessKey)
    .where('project_id', '=', projectId)
    .where('revoked_at', 'is', null)
    .returning(['access_key', 'secret_hint', 'created_at', 'revoked_at'])
    .executeTakeFirst();
}

export async function findProjectAccessKey(db: Db | Tx, projectId: string, accessKey: string) {
  return db
    .selectFrom('access_keys')
    .select(['access_key', 'secret_hint', 'created_at', 'revoked_at'])
    .where('access_key', '=', accessKey)
    .where('project_id', '=', projectId)
    .executeTakeFirst();
}
