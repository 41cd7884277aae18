import { sql } from 'kysely';
import type { Db } from '../../db/schema.ts';
import type { Lang } from '../../shared/i18n.ts';
import { findRequest } from './find-request.ts';
import { toPage, type Page } from '../../http/paging.ts';
import type { RequestListQuery } from './list-query.ts';
import { toRequestListItem, type RequestListItem, type ViewOptions } from './mails.mapper.ts';
import { matchesNothing, type ViewFilters } from './view-filters.ts';
import { dir, feedbackMatch, fetchPage, likeContains, TEMPORARY_CAUSE_CODES, temporaryCauseMatch } from './view-sql.ts';

/**
 * The request view (getMailRequestList) and its export rows, answering API shapes; scoped by
 * project.
 */

const REQUEST_LIST_COLUMNS = [
  'mr.id',
  'mr.id_day',
  'mr.status',
  'mr.sender_address',
  'mr.sender_name',
  'mr.title',
  'mr.template_sid',
  'mr.template_name',
  'mr.advertising',
  'mr.reservation_at',
  'mr.dispatch_type',
  'mr.requester_ip',
  'mr.request_count',
  'mr.recipient_count',
  'mr.created_at',
  'mr.finished_at',
  'mr.canceled_at',
  'mr.started_at',
  'mr.confirm_and_send',
  'mr.sent_now',
] as const;

const REQUEST_SORT_COLUMNS = {
  createUtc: 'mr.created_at',
  recipientCount: 'mr.recipient_count',
  reservationUtc: 'mr.reservation_at',
  sendUtc: 'mr.finished_at',
  statusCode: 'mr.status',
} as const;

function requestListBase(db: Db, projectId: string, q: ViewFilters) {
  let qb = db.selectFrom('mail_requests as mr').where('mr.project_id', '=', projectId);
  if (q.range.start) qb = qb.where('mr.created_at', '>=', q.range.start);
  if (q.range.end) qb = qb.where('mr.created_at', '<=', q.range.end);
  if (q.requestId) qb = qb.where('mr.id', '=', String(q.requestId.seq)).where('mr.id_day', '=', q.requestId.day);
  if (q.mailId) {
    const mailId = q.mailId;
    qb = qb.where('mr.id', 'in', (eb) =>
      eb
        .selectFrom('mails as m')
        .select('m.request_id')
        .where('m.id', '=', String(mailId.seq))
        .where('m.id_day', '=', mailId.day)
        .where('m.project_id', '=', projectId),
    );
  }
  if (q.dispatchType) qb = qb.where('mr.dispatch_type', '=', q.dispatchType);
  if (q.title) qb = qb.where('mr.title', 'ilike', likeContains(q.title));
  if (q.templateSid) qb = qb.where('mr.template_sid', '=', q.templateSid);
  if (q.senderAddress) qb = qb.where(sql`lower(mr.sender_address)`, '=', q.senderAddress.toLowerCase());
  if (q.recipientAddress) {
    const address = q.recipientAddress.toLowerCase();
    // recipients_address is (project_id, lower(address)): the probe stays on the index.
    qb = qb.where(({ exists, selectFrom }) =>
      exists(
        selectFrom('recipients as r')
          .select(sql`1`.as('one'))
          .where('r.project_id', '=', projectId)
          .where(sql`lower(r.address)`, '=', address)
          .whereRef('r.request_id', '=', 'mr.id')
          // recipients.created_at is its request's: the same rows, in the range's months only
          .$if(q.range.start !== undefined, (sq) => sq.where('r.created_at', '>=', q.range.start!))
          .$if(q.range.end !== undefined, (sq) => sq.where('r.created_at', '<=', q.range.end!)),
      ),
    );
  }
  if (q.sendStatus) qb = qb.where('mr.status', 'in', q.sendStatus);
  if (q.sendResultCode) {
    const codes = q.sendResultCode;
    // recipients_request (request_id, ...) per request; the planner hashes the other way round
    // (recipients_project_result) when the code is rare.
    const causes = codes.filter((c) => TEMPORARY_CAUSE_CODES.includes(c));
    qb = qb.where(({ exists, selectFrom, or }) => {
      const own = exists(
        selectFrom('recipients as r')
          .select(sql`1`.as('one'))
          // (mr is the project's: no project_id here keeps the probe index-only; OR'd with a
          // cause below, the planner hashes both sides instead, and that needs project_id)
          .$if(causes.length > 0, (sq) => sq.where('r.project_id', '=', projectId))
          .whereRef('r.request_id', '=', 'mr.id')
          .where('r.result_code', 'in', codes)
          // recipients.created_at is its request's: the same rows, a narrower index range, in the range's months only
          .$if(q.range.start !== undefined, (sq) => sq.where('r.created_at', '>=', q.range.start!))
          .$if(q.range.end !== undefined, (sq) => sq.where('r.created_at', '<=', q.range.end!)),
      );
      if (causes.length === 0) return own;
      // A temporary cause: its own EXISTS, so that the planner can hash the request ids of the
      // (few) matching rows from recipients_project_temporary; one OR'd condition made it scan
      // every recipient (1.6 s on 2M rows).
      const cause = exists(
        selectFrom('recipients as r')
          .select(sql`1`.as('one'))
          .where('r.project_id', '=', projectId)
          .whereRef('r.request_id', '=', 'mr.id')
          .where(temporaryCauseMatch(causes))
          .$if(q.range.start !== undefined, (sq) => sq.where('r.created_at', '>=', q.range.start!))
          .$if(q.range.end !== undefined, (sq) => sq.where('r.created_at', '<=', q.range.end!)),
      );
      return or([own, cause]);
    });
  }
  const feedback = feedbackMatch(q);
  if (feedback.length > 0) {
    // The partial index recipients_bounced / recipients_complained (project_id, created_at):
    // the planner hashes the request ids of the few matching recipients.
    qb = qb.where(({ exists, selectFrom }) =>
      exists(
        selectFrom('recipients as r')
          .select(sql`1`.as('one'))
          .where('r.project_id', '=', projectId)
          .whereRef('r.request_id', '=', 'mr.id')
          .where(sql<boolean>`${sql.join(feedback, sql` AND `)}`)
          .$if(q.range.start !== undefined, (sq) => sq.where('r.created_at', '>=', q.range.start!))
          .$if(q.range.end !== undefined, (sq) => sq.where('r.created_at', '<=', q.range.end!)),
      ),
    );
  }
  return qb;
}

export async function getMailRequestList(db: Db, projectId: string, q: RequestListQuery, view: ViewOptions): Promise<Page<RequestListItem>> {
  // A malformed requestId/mailId filter matches nothing.
  if (q.requestId === null || q.mailId === null) return toPage([], 0, q.paging, q.sort);
  const base = requestListBase(db, projectId, q);
  const { rows, total, exact } = await fetchPage(
    db,
    q.paging,
    (limit) => {
      let qb = base.select(REQUEST_LIST_COLUMNS);
      for (const key of q.sort) {
        qb = qb.orderBy(REQUEST_SORT_COLUMNS[key.property as keyof typeof REQUEST_SORT_COLUMNS], dir(key.direction));
      }
      return qb
        .orderBy('mr.id', dir(q.sort[0]?.direction ?? 'DESC'))
        .limit(limit)
        .offset(q.paging.page * q.paging.size)
        .execute();
    },
    base,
  );
  return toPage(
    rows.map((row) => toRequestListItem(row, view)),
    total,
    q.paging,
    q.sort,
    exact,
  );
}

/** One request in the getMailRequestList row shape (send-now and cancel answer with it). */
export async function getRequestRow(db: Db, projectId: string, requestId: string, lang: Lang, tz: string): Promise<RequestListItem> {
  const row = await findRequest(db, projectId, requestId, REQUEST_LIST_COLUMNS);
  return toRequestListItem(row, { lang, timeZone: tz });
}

/** Requests by internal id in the getMailRequestList row shape (a webhook's payload); ids not found are left out. */
export async function getRequestRowsByIds(db: Db, ids: string[], view: ViewOptions): Promise<Map<string, RequestListItem>> {
  if (!ids.length) return new Map();
  const rows = await db.selectFrom('mail_requests as mr').select(REQUEST_LIST_COLUMNS).where('mr.id', 'in', ids).execute();
  return new Map(rows.map((r) => [String(r.id), toRequestListItem(r, view)]));
}

/** Every matching request in the default order (createUtc DESC), in batches. */
export async function* iterateRequestRows(db: Db, projectId: string, f: ViewFilters, view: ViewOptions, batchSize: number): AsyncGenerator<RequestListItem[]> {
  if (matchesNothing(f)) return;
  let cursor: { at: string; id: string } | undefined;
  for (;;) {
    let qb = requestListBase(db, projectId, f).select([...REQUEST_LIST_COLUMNS, sql<string>`mr.created_at::text`.as('cursor_at')]);
    if (cursor) qb = qb.where(sql<boolean>`(mr.created_at, mr.id) < (${cursor.at}::timestamptz, ${cursor.id}::bigint)`);
    const rows = await qb.orderBy('mr.created_at', 'desc').orderBy('mr.id', 'desc').limit(batchSize).execute();
    if (rows.length > 0) yield rows.map((row) => toRequestListItem(row, view));
    if (rows.length < batchSize) return;
    const last = rows[rows.length - 1]!;
    cursor = { at: last.cursor_at, id: last.id };
  }
}
