import type { Selection, SelectExpression, SelectQueryBuilder } from 'kysely';
import type { Db } from '../../db/schema.ts';
import { notFound } from '../../shared/errors.ts';
import { parseNumericId, type NumericId } from '../../shared/ids.ts';

/**
 * A project's request by its public id, for the views. Scoped by project: another project's ids
 * answer 77103 exactly like unknown or malformed ones.
 */

export const requestNotFound = (requestId: string) => notFound(`requestId: request ${requestId} does not exist`);

/** A malformed id answers 77103, as an unknown one does. */
export function parseRequestId(requestId: string): NumericId {
  const id = parseNumericId(requestId);
  if (!id) throw requestNotFound(requestId);
  return id;
}

/** The project's request `id` (alias mr), to select from or join to; no row when it is none of the project's. */
export const requestById = (db: Db, projectId: string, id: NumericId) =>
  db.selectFrom('mail_requests as mr').where('mr.project_id', '=', projectId).where('mr.id', '=', String(id.seq)).where('mr.id_day', '=', id.day);

type RequestQuery = ReturnType<typeof requestById>;
type QueryDb = RequestQuery extends SelectQueryBuilder<infer D, any, any> ? D : never;
type QueryTables = RequestQuery extends SelectQueryBuilder<any, infer T, any> ? T : never;

/** The project's request named by `requestId`, with `columns`; 77103 when there is none. */
export async function findRequest<C extends SelectExpression<QueryDb, QueryTables>>(
  db: Db,
  projectId: string,
  requestId: string,
  columns: readonly C[],
): Promise<Selection<QueryDb, QueryTables, C>> {
  const row = await requestById(db, projectId, parseRequestId(requestId)).select(columns).executeTakeFirst();
  if (!row) throw requestNotFound(requestId);
  return row;
}
