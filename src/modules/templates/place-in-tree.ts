import type { Tx } from '../../db/schema.ts';
import { badRequest, notFound } from '../../shared/errors.ts';
import * as repo from './templates.repository.ts';

/** Putting templates and categories in the category tree: parents, sibling order, unique names. */

export const categoryNotFound = (field: string, sid: string) => notFound(`${field}: category ${sid} does not exist`);

/** A category that must exist (and stay, until the transaction ends) to put something in it. */
export async function lockParent(tx: Tx, projectId: string, field: string, sid: string | null) {
  if (sid === null) return undefined;
  const row = await repo.lockCategory(tx, projectId, sid);
  if (!row) throw categoryNotFound(field, sid);
  return row;
}

/** A lowerSid from a body: absent means "not given"; it names a sibling by sid. */
export function parseLowerSid(raw: unknown): string | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  const text = typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw.trim() : '';
  if (!/^-?\d{1,18}$/.test(text)) throw badRequest('lowerSid: must be the sid of the template or category that should come after this one');
  return String(BigInt(text));
}

/**
 * Puts `sid` among its new siblings: right before `lowerSid` when that is one of them; else where
 * it was (same parent) or last (new parent). Siblings are renumbered 1..n.
 */
export async function placeAmongSiblings(
  tx: Tx,
  kind: repo.SiblingKind,
  projectId: string,
  sid: string,
  parent: { from: string | null; to: string | null },
  lowerSid: string | undefined,
): Promise<void> {
  const siblings = await repo.lockSiblings(tx, kind, projectId, parent.to);
  const current = siblings.indexOf(sid);
  const order = siblings.filter((s) => s !== sid);
  let at = lowerSid === undefined ? -1 : order.indexOf(lowerSid);
  if (at < 0) at = parent.from === parent.to && current >= 0 ? current : order.length;
  order.splice(at, 0, sid);
  await repo.setPositions(tx, kind, order);
}

/** Unique category names among siblings: a race past the check lands on the unique index. */
export async function withUniqueName<T>(message: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if ((err as { code?: string }).code === '23505') throw badRequest(message);
    throw err;
  }
}
