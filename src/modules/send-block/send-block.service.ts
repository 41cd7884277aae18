import type { components } from '../../generated/api.ts';
import type { Db, Tx } from '../../db/schema.ts';
import type { AppDeps } from '../../deps.ts';
import { toNesDateTime } from '../../shared/clock.ts';
import { badRequest } from '../../shared/errors.ts';
import { sendBlockActionLabel, sendBlockRequesterLabel, sendBlockStateText, type Lang } from '../../shared/i18n.ts';
import { parsePaging, parseSort, toPage } from '../../http/paging.ts';
import type { RawQuery } from '../../http/query-params.ts';
import { isValidEmail } from '../../shared/email-address.ts';
import * as repo from './send-block.repository.ts';
import type { KeyLookup } from '../../db/key-lookups.ts';

type Schemas = components['schemas'];
export type SendBlockPage = Schemas['SendBlockPage'];
export type ConfigView = Schemas['Config'];

/**
 * The service-wide send-block list: hard bounces block an address for every project
 * for the SEND_BLOCK_TIME hours of the project whose mail bounced (a setting of each project, as
 * NCP's is: one tenant can't change another's); mail to a blocked address fails with SEND_BLOCK_ADDRESS without an
 * SMTP attempt; entries run out by themselves.
 */
const SEND_BLOCK_TIME = 'SEND_BLOCK_TIME';
const DEFAULT_SEND_BLOCK_HOURS = 168;
const UNIT_HOURS: Record<string, { hours: number; max: number }> = { HOUR: { hours: 1, max: 8760 }, DAY: { hours: 24, max: 365 } };

const addressKey = (address: string) => address.trim().toLowerCase();

/**
 * Addresses (lower-case) among `addresses` that are blocked at `now`: a lookup, which delivery
 * asks together with the domain blocks in one statement per batch (readKeyLookups).
 */
export function blockedLookup(addresses: string[], now: Date): KeyLookup<ReadonlySet<string>> {
  const keys = [...new Set(addresses.map(addressKey))];
  return { query: keys.length ? repo.activeBlocksQuery(keys, now) : null, read: (found) => found };
}

async function sendBlockHours(db: Db | Tx, projectId: string): Promise<number> {
  const row = await repo.findConfig(db, projectId, SEND_BLOCK_TIME);
  const hours = row ? Number(row.value) : NaN;
  return Number.isSafeInteger(hours) && hours > 0 ? hours : DEFAULT_SEND_BLOCK_HOURS;
}

export interface HardBounce {
  address: string;
  projectId: string;
  resultCode: string;
  resultMessage: string | null;
}

/** Blocks hard-bounced addresses for their project's SEND_BLOCK_TIME in effect now (a later change leaves them be). */
export async function recordHardBounces(db: Db | Tx, bounces: HardBounce[], now: Date): Promise<number> {
  if (bounces.length === 0) return 0;
  const keys = [...new Set(bounces.map((b) => addressKey(b.address)))];
  // A lapsed entry not yet swept is closed (D) before the new one opens (C).
  await repo.expireBlocks(db, now, { keys });
  const byProject = Map.groupBy(bounces, (b) => b.projectId);
  let inserted = 0;
  for (const [projectId, group] of byProject) {
    const until = new Date(now.getTime() + (await sendBlockHours(db, projectId)) * 3_600_000);
    inserted += await repo.insertBlocks(
      db,
      group.map((b) => ({ key: addressKey(b.address), address: b.address, projectId: b.projectId, resultCode: b.resultCode, resultMessage: b.resultMessage })),
      until,
      now,
    );
  }
  return inserted;
}

/** The periodic sweep: entries whose time is up go, with their D / SYSTEM row. */
export async function expireSendBlocks(deps: Pick<AppDeps, 'db' | 'now'>): Promise<number> {
  const now = deps.now();
  let total = 0;
  for (;;) {
    const n = await repo.expireBlocks(deps.db, now, { limit: 5_000 });
    total += n;
    if (n < 5_000) return total;
  }
}

function firstValue(raw: unknown): string | undefined {
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  const s = String(v).trim();
  return s === '' ? undefined : s;
}

/** getSendBlockList: the history of one address, newest first, and whether it is blocked now. */
export async function getSendBlockList(deps: Pick<AppDeps, 'db' | 'config' | 'now'>, projectId: string, query: RawQuery, lang: Lang): Promise<SendBlockPage> {
  const { db } = deps;
  const view = { lang, timeZone: deps.config.displayTimezone, now: deps.now() };
  const target = firstValue(query.targetAddress);
  if (!target) throw badRequest('targetAddress: required');
  if (!isValidEmail(target)) throw badRequest('targetAddress: not a valid e-mail address');
  const paging = parsePaging(query);
  const sort = parseSort(query.sort, ['createUtc'], [{ property: 'createUtc', direction: 'DESC' }]);
  const key = addressKey(target);
  // The history is exact at once, not only after the next sweep.
  await repo.expireBlocks(db, view.now, { keys: [key] });
  const [rows, total, block] = await Promise.all([
    repo.listHistory(db, key, sort[0]!.direction === 'ASC' ? 'asc' : 'desc', paging.size, paging.page * paging.size),
    repo.countHistory(db, key),
    repo.findBlock(db, key),
  ]);
  const content = rows.map((r) => ({
    targetAddress: r.address,
    actionType: sendBlockActionLabel(r.action, view.lang),
    actionRequesterType: sendBlockRequesterLabel(
      r.requester_type === 'CUSTOMER' && r.project_id !== projectId ? 'OTHER_CUSTOMER' : r.requester_type,
      view.lang,
    ),
    requestDate: toNesDateTime(r.created_at, view.timeZone)!,
    historySid: Number(r.sid),
    sendResultCode: r.send_result_code,
    sendResultMessage: r.send_result_message,
  }));
  const page = toPage(content, total, paging, sort);
  const blocked = block !== undefined && block.blocked_until.getTime() > view.now.getTime();
  return {
    content: page.content,
    registerStatus: sendBlockStateText(blocked, view.lang),
    expectedDeleteDate: blocked ? toNesDateTime(block.blocked_until, view.timeZone) : null,
    last: page.last,
    totalElements: page.totalElements,
    totalPages: page.totalPages,
    first: page.first,
    numberOfElements: page.numberOfElements,
    size: page.size,
    number: page.number,
    sort: page.sort,
  };
}

export interface ConfigInput {
  type?: unknown;
  subType?: unknown;
  value?: unknown;
  unit?: unknown;
}

/** createConfig: the project's SEND_BLOCK_TIME in HOUR or DAY, kept in hours (getConfig has no unit). */
export async function createConfig(deps: Pick<AppDeps, 'db' | 'now'>, projectId: string, input: ConfigInput): Promise<ConfigView> {
  const now = deps.now();
  if (input.type !== SEND_BLOCK_TIME) throw badRequest(`type: must be ${SEND_BLOCK_TIME}`);
  if (input.subType !== undefined && input.subType !== null && input.subType !== '') throw badRequest('subType: SEND_BLOCK_TIME has no subType');
  const unit = typeof input.unit === 'string' ? input.unit.trim().toUpperCase() : '';
  const rule = UNIT_HOURS[unit];
  if (!rule) throw badRequest('unit: must be HOUR or DAY');
  const raw = typeof input.value === 'number' ? String(input.value) : typeof input.value === 'string' ? input.value.trim() : '';
  const n = /^\d{1,6}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > rule.max) throw badRequest(`value: must be a whole number from 1 to ${rule.max} (${unit})`);
  const hours = String(n * rule.hours);
  await repo.upsertConfig(deps.db, { type: SEND_BLOCK_TIME, value: hours, unit: 'HOUR', projectId }, now);
  return { type: SEND_BLOCK_TIME, subType: null, value: hours };
}

export async function getConfig(deps: Pick<AppDeps, 'db'>, projectId: string, query: RawQuery): Promise<ConfigView> {
  const type = firstValue(query.type);
  if (!type) throw badRequest('type: required');
  if (type !== SEND_BLOCK_TIME) throw badRequest(`type: must be ${SEND_BLOCK_TIME}`);
  return { type, subType: null, value: String(await sendBlockHours(deps.db, projectId)) };
}
