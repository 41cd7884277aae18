import type { Db, Tx } from '../../db/schema.ts';

/** The parts a request's recipients are stored in (store-in-parts.ts): narrow writes on store_parts. */

export interface StorePart {
  part: number;
  /** the last key stored: the part goes on after it */
  keyAfter: string;
  /** null: no bound */
  keyLast: string | null;
  nextSeq: number;
  /** null: no bound */
  lastSeq: number | null;
  stored: number;
  state: 'S' | 'F' | 'D';
}

export type NewStorePart = Pick<StorePart, 'keyAfter' | 'keyLast' | 'nextSeq' | 'lastSeq'>;

const COLUMNS = ['part', 'key_after', 'key_last', 'next_seq', 'last_seq', 'stored', 'state'] as const;

function toPart(r: {
  part: number;
  key_after: string;
  key_last: string | null;
  next_seq: number;
  last_seq: number | null;
  stored: number;
  state: 'S' | 'F' | 'D';
}): StorePart {
  return { part: r.part, keyAfter: r.key_after, keyLast: r.key_last, nextSeq: r.next_seq, lastSeq: r.last_seq, stored: r.stored, state: r.state };
}

export async function hasParts(tx: Tx, requestId: string): Promise<boolean> {
  return (await tx.selectFrom('store_parts').select('part').where('request_id', '=', requestId).limit(1).executeTakeFirst()) !== undefined;
}

export async function insertParts(tx: Tx, requestId: string, parts: NewStorePart[]): Promise<void> {
  if (parts.length === 0) return;
  await tx
    .insertInto('store_parts')
    .values(parts.map((p, i) => ({ request_id: requestId, part: i + 1, key_after: p.keyAfter, key_last: p.keyLast, next_seq: p.nextSeq, last_seq: p.lastSeq })))
    .execute();
}

/** The parts still storing (state S). */
export async function openParts(db: Db, requestId: string): Promise<number[]> {
  const rows = await db.selectFrom('store_parts').select('part').where('request_id', '=', requestId).where('state', '=', 'S').orderBy('part').execute();
  return rows.map((r) => r.part);
}

/** One part, its row locked: the batch that stores it is the only one. */
export async function lockPart(tx: Tx, requestId: string, part: number): Promise<StorePart | undefined> {
  const row = await tx.selectFrom('store_parts').select(COLUMNS).where('request_id', '=', requestId).where('part', '=', part).forUpdate().executeTakeFirst();
  return row && toPart(row);
}

/** Every part of the request, rows locked in part order (the order every batch takes them in). */
export async function lockParts(tx: Tx, requestId: string): Promise<StorePart[]> {
  const rows = await tx.selectFrom('store_parts').select(COLUMNS).where('request_id', '=', requestId).orderBy('part').forUpdate().execute();
  return rows.map(toPart);
}

export async function updatePart(tx: Tx, requestId: string, part: StorePart): Promise<void> {
  await tx
    .updateTable('store_parts')
    .set({ key_after: part.keyAfter, next_seq: part.nextSeq, last_seq: part.lastSeq, stored: part.stored, state: part.state })
    .where('request_id', '=', requestId)
    .where('part', '=', part.part)
    .execute();
}

export async function deleteParts(tx: Tx, requestId: string): Promise<void> {
  await tx.deleteFrom('store_parts').where('request_id', '=', requestId).execute();
}

/**
 * A request that left P other than by storing (a cancel) loses its parts. The parts are locked
 * first, in part order, and the request's row is only read: a batch holds its part and then
 * waits for the request, so locking the request before the parts could deadlock with it (the
 * cancel itself, which locks the request, leaves them for this).
 */
export async function deletePartsIfLeftP(db: Db, requestId: string): Promise<void> {
  await db.transaction().execute(async (tx) => {
    if ((await lockParts(tx, requestId)).length === 0) return;
    const req = await tx.selectFrom('mail_requests').select('status').where('id', '=', requestId).executeTakeFirst();
    if (req?.status !== 'P') await deleteParts(tx, requestId);
  });
}
