import type { components } from '../../generated/api.ts';
import type { AppDeps } from '../../deps.ts';
import { parsePaging, toPage } from '../../http/paging.ts';
import { single, type RawQuery } from '../../http/query-params.ts';
import { toNesDateTime } from '../../shared/clock.ts';
import { normaliseDomain } from '../../shared/domain-name.ts';
import { badRequest } from '../../shared/errors.ts';
import { limitsOf } from './throttle.ts';
import { limitsAtLevel } from './throttle-policy.ts';
import { listDomainStates, type DomainStateRow } from './throttle.repository.ts';

export type DeliveryDomainPage = components['schemas']['DeliveryDomainPage'];
type DeliveryDomainState = components['schemas']['DeliveryDomainState'];

/** Messages granted in the last 60 s: this minute's, and the part of the last minute's still inside the window. */
export function sentLastMinute(row: Pick<DomainStateRow, 'minute_count' | 'prev_minute_count' | 'minute_elapsed'>): number {
  return Math.round(row.minute_count + row.prev_minute_count * Math.max(0, 1 - row.minute_elapsed / 60));
}

/** getDeliveryDomainList: each domain's limits, rate, pause and last slow-down reply. */
export async function getDeliveryDomainList(deps: Pick<AppDeps, 'db' | 'config' | 'now'>, query: RawQuery): Promise<DeliveryDomainPage> {
  const raw = single(query.domain, 'domain');
  const domain = raw === undefined ? undefined : normaliseDomain(String(raw));
  if (raw !== undefined && !domain) throw badRequest('domain: not a domain name');
  const paging = parsePaging(query);
  const { rows, total } = await listDomainStates(deps.db, { domain, limit: paging.size, offset: paging.page * paging.size });
  const tz = deps.config.displayTimezone;
  const now = deps.now().getTime();
  const content = rows.map((r): DeliveryDomainState => {
    const limits = limitsOf(deps.config.throttle, r.domain);
    return {
      domain: r.domain,
      limits,
      limitsInForce: limitsAtLevel(limits, r.backoff_level),
      sentLastMinute: sentLastMinute(r),
      openTransactions: r.open_slots,
      pausedUntil: r.paused_until && r.paused_until.getTime() > now ? toNesDateTime(r.paused_until, tz) : null,
      backoffLevel: r.backoff_level,
      lastReply: r.last_reply,
      lastReplyDate: toNesDateTime(r.last_reply_at, tz),
    };
  });
  // Beyond the last page the page is empty and the total unknown from it: counted apart.
  return toPage(content, rows.length ? total : paging.page === 0 ? 0 : (await listDomainStates(deps.db, { domain, limit: 1, offset: 0 })).total, paging, []);
}
