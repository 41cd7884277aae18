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
