import { sql } from 'kysely';
import type { Db } from '../../db/schema.ts';

export async function insertSession(db: Db, row: { id: string; projectId: string; accessKey: string; csrfToken: string; expiresAt: Date }) {
  await db
    .insertInto('console_sessions')
    .values({ id: row.id, project_id: row.projectId, access_key: row.accessKey, csrf_token: row.csrfToken, expires_at: row.expiresAt })
    .execute();
}

/** The session if it has neither passed its absolute expiry nor been idle longer than `idleMs`. */
export async function findLiveSession(db: Db, id: string, now: Date, idleMs: number) {
  return db
    .selectFrom('console_sessions')
    .select(['id', 'project_id', 'access_key', 'csrf_token', 'last_seen_at', 'expires_at'])
    .where('id', '=', id)
    .where('expires_at', '>', now)
    .where('last_seen_at', '>', new Date(now.getTime() - idleMs))
    .executeTakeFirst();
}

export async function touchSession(db: Db, id: string, now: Date) {
  await db.updateTable('console_sessions').set({ last_seen_at: now }).where('id', '=', id).execute();
}

export async function deleteSession(db: Db, id: string) {
  await db.deleteFrom('console_sessions').where('id', '=', id).execute();
}

/** Ended sessions, a bounded number at a time (called at each sign-in: sign-ins are rare). */
export async function deleteEndedSessions(db: Db, now: Date, idleMs: number) {
  await sql`
    DELETE FROM console_sessions WHERE id IN (
      SELECT id FROM console_sessions
      WHERE expires_at <= ${now} OR last_seen_at <= ${new Date(now.getTime() - idleMs)}
      LIMIT 1000)`.execute(db);
}
