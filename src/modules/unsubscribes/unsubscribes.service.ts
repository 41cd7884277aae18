import type { components } from '../../generated/api.ts';
import type { Config } from '../../config.ts';
import type { KeyLookup } from '../../db/key-lookups.ts';
import type { Db, Tx } from '../../db/schema.ts';
import type { AppDeps } from '../../deps.ts';
import { toNesDateTime } from '../../shared/clock.ts';
import { badRequest } from '../../shared/errors.ts';
import { derivedKeyFor } from '../../shared/secret-box.ts';
import { parsePaging, parseSort, toPage } from '../../http/paging.ts';
import { parseDateRange, type RawQuery } from '../../http/query-params.ts';
import { isValidEmail } from '../../shared/email-address.ts';
import { deriveUnsubscribeKey, openUnsubscribeToken, signUnsubscribeToken } from './unsubscribe-token.ts';
import * as repo from './unsubscribes.repository.ts';
import { emitWebhookEvents } from '../webhooks/webhooks.service.ts';

type Schemas = components['schemas'];
export type UnsubscribersResult = Schemas['UnsubscribersResult'];
export type UnsubscribersPage = Schemas['UnsubscribersPage'];

const MAX_UNSUBSCRIBERS_PER_REQUEST = 100_000;

/** The token key of this deployment (from MASTER_KEY or DATA_DIR/master.key), read once per process. */
export function unsubscribeKeyFor(config: Pick<Config, 'masterKey' | 'dataDir'>): Buffer {
  return derivedKeyFor(config, 'unsubscribe', deriveUnsubscribeKey);
}

/** The link of one recipient: `{PUBLIC_BASE_URL}/unsubscribe/{token}`. */
export function unsubscribeUrl(baseUrl: string, key: Buffer, r: { projectId: string; recipientId: string; address: string }): string {
  return `${baseUrl}/unsubscribe/${signUnsubscribeToken(key, r)}`;
}

/**
 * For each project, the lower-case addresses among its own on its unsubscribe list: a lookup for
 * a whole delivery batch (its advertising mails' recipients), whatever the number of projects in
 * it, which delivery asks together with the send-block list and the blocked domains in one
 * statement (readKeyLookups).
 */
export function unsubscribedLookup(recipients: { projectId: string; address: string }[]): KeyLookup<Map<string, Set<string>>> {
  // Addresses as written: the list compares them with PostgreSQL's lower(), which JavaScript's
  // toLowerCase() does not match on every character; what is found is keyed as delivery looks up.
  const pairs = new Map<string, [string, string]>();
  for (const r of recipients) pairs.set(`${r.projectId}\n${r.address}`, [r.projectId, r.address]);
  const list = [...pairs.values()];
  return {
    query: list.length
      ? repo.unsubscribedPairsQuery(
          list.map((p) => p[0]),
          list.map((p) => p[1]),
        )
      : null,
    read(found) {
      const out = new Map<string, Set<string>>();
      for (const key of found) {
        const [projectId, address] = pairs.get(key)!;
        const set = out.get(projectId) ?? new Set<string>();
        set.add(address.toLowerCase());
        out.set(projectId, set);
      }
      return out;
    },
  };
}

/** blockedReceivers, checked: every entry a valid address; duplicates (any case) counted once. */
function receiversOf(body: unknown): { requestCount: number; addresses: string[] } {
  const list = (body as { blockedReceivers?: unknown } | null)?.blockedReceivers;
  if (!Array.isArray(list) || list.length === 0) throw badRequest('blockedReceivers: required (at least one address)');
  if (list.length > MAX_UNSUBSCRIBERS_PER_REQUEST) throw badRequest(`blockedReceivers: at most ${MAX_UNSUBSCRIBERS_PER_REQUEST} addresses`);
  const seen = new Map<string, string>();
  list.forEach((raw, i) => {
    const address = typeof raw === 'string' ? raw.trim() : '';
    if (!isValidEmail(address)) throw badRequest(`blockedReceivers[${i}]: "${String(raw).slice(0, 100)}" is not a valid e-mail address`);
    if (!seen.has(address.toLowerCase())) seen.set(address.toLowerCase(), address);
  });
  return { requestCount: list.length, addresses: [...seen.values()] };
}

/** For other modules: the recipients' own unsubscribes (a complaint), in the caller's transaction. */
export async function addUnsubscribers(tx: Db | Tx, projectId: string, addresses: string[], at: Date): Promise<number> {
  return repo.insertUnsubscribers(tx, projectId, addresses, false, at);
}

export async function registerUnsubscribers(deps: Pick<AppDeps, 'db' | 'now'>, projectId: string, body: unknown): Promise<UnsubscribersResult> {
  const now = deps.now();
  const { requestCount, addresses } = receiversOf(body);
  const count = await repo.insertUnsubscribers(deps.db, projectId, addresses, true, now);
  return { count, requestCount, ignoreCount: requestCount - count };
}

export async function deleteUnsubscribers(deps: Pick<AppDeps, 'db' | 'now'>, projectId: string, body: unknown): Promise<UnsubscribersResult> {
  const now = deps.now();
  const { requestCount, addresses } = receiversOf(body);
  const count = await deps.db.transaction().execute(async (tx) => {
    const removed = await repo.deleteUnsubscribers(tx, projectId, addresses);
    await repo.clearRecipientsUnsubscribed(tx, projectId, removed, now);
    return removed.length;
  });
  return { count, requestCount, ignoreCount: requestCount - count };
}

const SORT_COLUMNS = { createUtc: 'created_at', isRegByManager: 'reg_by_manager' } as const;

function booleanParam(raw: unknown, field: string): boolean | undefined {
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (v === undefined || v === null || v === '') return undefined;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw badRequest(`${field}: must be true or false`);
}

export async function getUnsubscribersList(deps: Pick<AppDeps, 'db' | 'config'>, projectId: string, query: RawQuery): Promise<UnsubscribersPage> {
  const timeZone = deps.config.displayTimezone;
  const range = parseDateRange(query, timeZone);
  const paging = parsePaging(query);
  const sort = parseSort(query.sort, Object.keys(SORT_COLUMNS), [{ property: 'createUtc', direction: 'DESC' }]);
  const email = Array.isArray(query.emailAddress) ? query.emailAddress[0] : query.emailAddress;
  if (email !== undefined && typeof email !== 'string') throw badRequest('emailAddress: must be a single value');
  const filter: repo.UnsubscriberFilter = {
    projectId,
    start: range.start,
    end: range.end,
    emailAddress: email?.trim() || undefined,
    isRegByManager: booleanParam(query.isRegByManager, 'isRegByManager'),
  };
  const order = sort.map((s) => ({
    column: SORT_COLUMNS[s.property as keyof typeof SORT_COLUMNS],
    direction: s.direction === 'ASC' ? ('asc' as const) : ('desc' as const),
  }));
  const [rows, total] = await Promise.all([
    repo.listUnsubscribers(deps.db, filter, order, paging.size, paging.page * paging.size),
    repo.countUnsubscribers(deps.db, filter),
  ]);
  const content = rows.map((r) => ({ address: r.address, blockDate: toNesDateTime(r.created_at, timeZone)!, isRegByManager: r.reg_by_manager }));
  return toPage(content, total, paging, sort);
}

/** What the public page may show: the address's own state in the project, nothing else. */
export interface PageState {
  address: string;
  unsubscribed: boolean;
  since: Date | null;
}

interface TokenRecipient {
  id: string;
  projectId: string;
  address: string;
}

/** The recipient a token was issued for (from the token alone: it outlives the recipient row), or null. */
function recipientOf(key: Buffer, token: string): TokenRecipient | null {
  const claims = openUnsubscribeToken(key, token);
  return claims ? { id: claims.recipientId, projectId: claims.projectId, address: claims.address } : null;
}

async function stateOf(db: Db | Tx, r: TokenRecipient): Promise<PageState> {
  const entry = await repo.findUnsubscriber(db, r.projectId, r.address);
  return { address: r.address, unsubscribed: entry !== undefined, since: entry?.created_at ?? null };
}

export async function unsubscribePageState(deps: Pick<AppDeps, 'db' | 'config'>, token: string): Promise<PageState | null> {
  const r = recipientOf(unsubscribeKeyFor(deps.config), token);
  return r ? stateOf(deps.db, r) : null;
}

/**
 * The page's POST: unsubscribe (also the RFC 8058 one-click POST) or resubscribe. Both are
 * idempotent. Unsubscribing registers the address with isRegByManager false and marks this
 * recipient; resubscribing removes the entry, whoever made it, and clears the mark.
 */
export async function applyUnsubscribeAction(
  deps: Pick<AppDeps, 'db' | 'config' | 'now'>,
  token: string,
  action: 'unsubscribe' | 'resubscribe',
): Promise<PageState | null> {
  const key = unsubscribeKeyFor(deps.config);
  const now = deps.now();
  return deps.db.transaction().execute(async (tx) => {
    const r = recipientOf(key, token);
    if (!r) return null;
    if (action === 'unsubscribe') {
      await repo.insertUnsubscribers(tx, r.projectId, [r.address], false, now);
      // The first use of the link is the event (a repeat changes nothing and says nothing).
      if (await repo.markRecipientUnsubscribed(tx, r.projectId, r.id, now))
        await emitWebhookEvents(tx, [{ projectId: r.projectId, type: 'recipient.unsubscribed', subjectId: r.id }]);
    } else {
      const removed = await repo.deleteUnsubscribers(tx, r.projectId, [r.address]);
      await repo.clearRecipientsUnsubscribed(tx, r.projectId, [...new Set([...removed, r.address])], now);
    }
    return stateOf(tx, r);
  });
}
