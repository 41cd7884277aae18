import { sql, type SelectQueryBuilder } from 'kysely';
import type { Db, Tx } from '../../db/schema.ts';
import { notFound } from '../../shared/errors.ts';
import { formatNumericId, parseNumericId } from '../../shared/ids.ts';
import type { Lang } from '../../shared/i18n.ts';
import { compileTemplate, renderLeniently } from '../../shared/render-tags.ts';
import { attachFilesOfRequest } from '../files/files.read-model.ts';
import { toPage, type Page, type Paging } from '../../http/paging.ts';
import type { MailListQuery, RequestListQuery } from './list-query.ts';
import { matchesNothing, type ViewFilters } from './view-filters.ts';
import { boundedCount, likeContains, resultCodeMatch, TEMPORARY_CAUSE_CODES, temporaryCauseMatch } from './view-sql.ts';
import {
  publicId,
  renderValuesFor,
  toMailDetail,
  toMailListItem,
  toRequestListItem,
  toRequestStatus,
  type MailDetail,
  type MailListItem,
  type MailRequestRow,
  type RecipientRow,
  type RenderRecipientRow,
  type RequestListItem,
  type RequestStatus,
  type ViewOptions,
} from './mails.mapper.ts';

/**
 * The NCP views (getMailRequestList, getMailRequestStatus, getMailList, getMail), answering API
 * shapes. Every query is scoped by project: another project's ids answer 77103 exactly like
 * unknown or malformed ones.
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

const MAIL_REQUEST_COLUMNS = [
  'mr.id',
  'mr.id_day',
  'mr.created_at',
  'mr.title',
  'mr.template_sid',
  'mr.template_name',
  'mr.sender_address',
  'mr.sender_name',
  'mr.individual',
  'mr.advertising',
  'mr.parameters',
  'mr.reservation_at',
  'mr.project_id',
  'mr.requester_ip',
  'mr.confirm_and_send',
  'mr.sent_now',
] as const;

const MAIL_COLUMNS = ['m.id', 'm.id_day', 'm.status', 'm.recipient_count', 'm.representative_address', 'm.finished_at'] as const;

const REQUEST_SORT_COLUMNS = {
  createUtc: 'mr.created_at',
  recipientCount: 'mr.recipient_count',
  reservationUtc: 'mr.reservation_at',
  sendUtc: 'mr.finished_at',
  statusCode: 'mr.status',
} as const;

// A request's mails get their ids in seq order (one nextval per mail, in seq order, when they
// are stored), so mailId order is seq order: mails_request_seq serves it, where ordering by
// m.id would walk the primary key across every request's mails.
const MAIL_SORT_COLUMNS = {
  id: 'm.seq',
  createUtc: 'm.created_at',
  statusCode: 'm.status',
} as const;

type Direction = 'asc' | 'desc';
const dir = (d: 'ASC' | 'DESC'): Direction => (d === 'ASC' ? 'asc' : 'desc');

/** `%`, `_` and `\` of a user's text match themselves in LIKE. */

/**
 * Runs the page query, then the count (same WHERE, capped: view-sql.ts) only when the page can't
 * tell the total. Each ORDER BY ends with a unique key (request id; mail seq) in the first key's
 * direction: a stable order, and with the default createUtc DESC the (project_id, created_at
 * DESC, id DESC) index serves the request list as is.
 */
async function fetchPage<R>(
  db: Db,
  paging: Paging,
  rows: (limit: number) => Promise<R[]>,
  base: SelectQueryBuilder<any, any, any>,
): Promise<{ rows: R[]; total: number; exact: boolean }> {
  // one row more than the page: whether a next page exists
  const found = await rows(paging.size + 1);
  const page = found.slice(0, paging.size);
  const { total, exact } = await boundedCount(db, paging, page.length, found.length > paging.size, (conn, limit) => countOf(conn, base, limit));
  return { rows: page, total, exact };
}

/** count(*) of the query's rows, at most `limit` of them. */
async function countOf(db: Db | Tx, qb: SelectQueryBuilder<any, any, any>, limit: number): Promise<number> {
  const row = await db
    .selectFrom(qb.select(sql`1`.as('one')).limit(limit).as('c'))
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

// ---------- getMailRequestList ----------

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
          .whereRef('r.request_id', '=', 'mr.id'),
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
          // recipients.created_at >= its request's: the same rows, a narrower index range
          .$if(q.range.start !== undefined, (sq) => sq.where('r.created_at', '>=', q.range.start!)),
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
          .$if(q.range.start !== undefined, (sq) => sq.where('r.created_at', '>=', q.range.start!)),
      );
      return or([own, cause]);
    });
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
  const id = parseNumericId(requestId);
  if (!id) throw requestNotFound(requestId);
  const row = await db
    .selectFrom('mail_requests as mr')
    .select(REQUEST_LIST_COLUMNS)
    .where('mr.project_id', '=', projectId)
    .where('mr.id', '=', String(id.seq))
    .where('mr.id_day', '=', id.day)
    .executeTakeFirst();
  if (!row) throw requestNotFound(requestId);
  return toRequestListItem(row, { lang, timeZone: tz });
}

const requestNotFound = (requestId: string) => notFound(`requestId: request ${requestId} does not exist`);
const mailNotFound = (mailId: string) => notFound(`mailId: mail ${mailId} does not exist`);

// ---------- getMailRequestStatus ----------

export async function getMailRequestStatus(db: Db, projectId: string, requestId: string, view: ViewOptions): Promise<RequestStatus> {
  const id = parseNumericId(requestId);
  if (!id) throw requestNotFound(requestId);
  const seq = String(id.seq);
  const [request, counts] = await Promise.all([
    db
      .selectFrom('mail_requests')
      .select(['id', 'id_day', 'status', 'request_count', 'reservation_at'])
      .where('project_id', '=', projectId)
      .where('id', '=', seq)
      .where('id_day', '=', id.day)
      .executeTakeFirst(),
    // Joined to the request for the project scope; the mails side stays an index-only scan
    // of mails_request_status.
    db
      .selectFrom('mails as m')
      .innerJoin('mail_requests as mr', 'mr.id', 'm.request_id')
      .select(['m.status', (eb) => eb.fn.countAll<string>().as('n')])
      .where('mr.project_id', '=', projectId)
      .where('mr.id', '=', seq)
      .where('mr.id_day', '=', id.day)
      .groupBy('m.status')
      .execute(),
  ]);
  if (!request) throw requestNotFound(requestId);
  const byStatus: Record<string, number> = {};
  for (const c of counts) byStatus[c.status] = Number(c.n);
  return toRequestStatus(request, byStatus, view);
}

// ---------- getMailList ----------

/** The mail view's request-level filters, checked on its one request. */
function requestMatches(request: MailRequestRow & { dispatch_type: string }, f: ViewFilters): boolean {
  if (f.range.start && request.created_at < f.range.start) return false;
  if (f.range.end && request.created_at > f.range.end) return false;
  if (f.requestId && publicId(request) !== formatNumericId(f.requestId.day, f.requestId.seq)) return false;
  if (f.title !== undefined && !request.title.toLowerCase().includes(f.title.toLowerCase())) return false;
  if (f.senderAddress !== undefined && request.sender_address.toLowerCase() !== f.senderAddress.toLowerCase()) return false;
  if (f.templateSid !== undefined && request.template_sid !== f.templateSid) return false;
  if (f.dispatchType !== undefined && request.dispatch_type !== f.dispatchType) return false;
  return true;
}

async function findMailRequest(db: Db, projectId: string, requestId: string): Promise<MailRequestRow & { dispatch_type: string }> {
  const id = parseNumericId(requestId);
  if (!id) throw requestNotFound(requestId);
  const row = await db
    .selectFrom('mail_requests as mr')
    .select([...MAIL_REQUEST_COLUMNS, 'mr.dispatch_type'])
    .where('mr.project_id', '=', projectId)
    .where('mr.id', '=', String(id.seq))
    .where('mr.id_day', '=', id.day)
    .executeTakeFirst();
  if (!row) throw requestNotFound(requestId);
  return row;
}

/**
 * The recipient each mail was rendered with: its representative (first) recipient. One
 * statement for the whole page, through recipients_mail.
 */
async function firstRecipients(db: Db, projectId: string, mails: { id: string; representative_address: string }[]) {
  const byMail = new Map<string, RenderRecipientRow>();
  if (mails.length === 0) return byMail;
  const rows = await db
    .selectFrom('recipients as r')
    .innerJoin('mails as m', 'm.id', 'r.mail_id')
    .distinctOn('r.mail_id')
    .select(['r.mail_id', 'r.address', 'r.name', 'r.parameters'])
    .where('r.mail_id', 'in', mails.map((m) => m.id))
    .where('r.project_id', '=', projectId)
    .orderBy('r.mail_id')
    .orderBy(sql`r.address = m.representative_address`, 'desc')
    .orderBy('r.id')
    .execute();
  for (const r of rows) byMail.set(r.mail_id, r);
  return byMail;
}

function mailListBase(db: Db, projectId: string, requestRowId: string, q: ViewFilters) {
  let base = db.selectFrom('mails as m').where('m.request_id', '=', requestRowId).where('m.project_id', '=', projectId);
  if (q.mailId) base = base.where('m.id', '=', String(q.mailId.seq)).where('m.id_day', '=', q.mailId.day);
  if (q.sendStatus) base = base.where('m.status', 'in', q.sendStatus);
  if (q.recipientAddress) {
    const address = q.recipientAddress.toLowerCase();
    base = base.where(({ exists, selectFrom }) =>
      exists(
        selectFrom('recipients as r')
          .select(sql`1`.as('one'))
          .whereRef('r.mail_id', '=', 'm.id')
          // (redundant: lets the planner hash the request's matching recipients instead of probing each mail)
          .where('r.request_id', '=', requestRowId)
          .where('r.project_id', '=', projectId)
          .where(sql`lower(r.address)`, '=', address),
      ),
    );
  }
  if (q.sendResultCode) {
    const codes = q.sendResultCode;
    base = base.where(({ exists, selectFrom }) =>
      exists(
        selectFrom('recipients as r')
          .select(sql`1`.as('one'))
          .whereRef('r.mail_id', '=', 'm.id')
          // (redundant: lets the planner hash the request's matching recipients instead of probing each mail)
          .where('r.request_id', '=', requestRowId)
          .where('r.project_id', '=', projectId)
          .where(resultCodeMatch(codes)),
      ),
    );
  }
  return base;
}

export async function getMailList(db: Db, projectId: string, requestId: string, q: MailListQuery, view: ViewOptions): Promise<Page<MailListItem>> {
  const request = await findMailRequest(db, projectId, requestId);
  // Request-level filters (the title is the request's: one template for all its mails) keep all
  // of its mails or none; a malformed mailId or requestId matches nothing.
  if (matchesNothing(q) || !requestMatches(request, q)) return toPage([], 0, q.paging, q.sort);

  const base = mailListBase(db, projectId, request.id, q);
  const { rows, total, exact } = await fetchPage(
    db,
    q.paging,
    (limit) => {
      let qb = base.select(MAIL_COLUMNS);
      for (const key of q.sort) qb = qb.orderBy(MAIL_SORT_COLUMNS[key.property as keyof typeof MAIL_SORT_COLUMNS], dir(key.direction));
      return qb
        .orderBy('m.seq', dir(q.sort[0]?.direction ?? 'ASC'))
        .limit(limit)
        .offset(q.paging.page * q.paging.size)
        .execute();
    },
    base,
  );
  const recipients = await firstRecipients(db, projectId, rows);
  const title = compileTemplate(request.title);
  const items = rows.map((mail) => {
    const values = renderValuesFor(request, recipients.get(mail.id));
    return toMailListItem(request, mail, renderLeniently(title, values), view);
  });
  return toPage(items, total, q.paging, q.sort, exact);
}

// ---------- every row, by keyset (exports) ----------

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

/** Every matching mail of the filters' request in mailId order, in batches. */
export async function* iterateMailRows(db: Db, projectId: string, f: ViewFilters, view: ViewOptions, batchSize: number): AsyncGenerator<MailListItem[]> {
  if (matchesNothing(f) || !f.requestId) return;
  const request = await db
    .selectFrom('mail_requests as mr')
    .select([...MAIL_REQUEST_COLUMNS, 'mr.dispatch_type'])
    .where('mr.project_id', '=', projectId)
    .where('mr.id', '=', String(f.requestId.seq))
    .where('mr.id_day', '=', f.requestId.day)
    .executeTakeFirst();
  if (!request || !requestMatches(request, f)) return;
  const title = compileTemplate(request.title);
  let afterSeq = 0;
  for (;;) {
    const rows = await mailListBase(db, projectId, request.id, f)
      .select([...MAIL_COLUMNS, 'm.seq'])
      .where('m.seq', '>', afterSeq)
      .orderBy('m.seq')
      .limit(batchSize)
      .execute();
    if (rows.length === 0) return;
    const recipients = await firstRecipients(db, projectId, rows);
    yield rows.map((mail) => toMailListItem(request, mail, renderLeniently(title, renderValuesFor(request, recipients.get(mail.id))), view));
    if (rows.length < batchSize) return;
    afterSeq = rows[rows.length - 1]!.seq;
  }
}

// ---------- getMail ----------

export async function getMail(db: Db, projectId: string, mailId: string, view: ViewOptions): Promise<MailDetail> {
  const id = parseNumericId(mailId);
  if (!id) throw mailNotFound(mailId);
  const row = await db
    .selectFrom('mails as m')
    .innerJoin('mail_requests as mr', 'mr.id', 'm.request_id')
    .select([
      ...MAIL_REQUEST_COLUMNS,
      'mr.body',
      'mr.references_header',
      'm.id as mail_id',
      'm.id_day as mail_id_day',
      'm.status as mail_status',
      'm.recipient_count as mail_recipient_count',
      'm.representative_address',
      'm.finished_at as mail_finished_at',
    ])
    .where('m.project_id', '=', projectId)
    .where('mr.project_id', '=', projectId)
    .where('m.id', '=', String(id.seq))
    .where('m.id_day', '=', id.day)
    .executeTakeFirst();
  if (!row) throw mailNotFound(mailId);

  const [recipients, attachFiles]: [RecipientRow[], MailDetail['attachFiles']] = await Promise.all([
    db
      .selectFrom('recipients as r')
      .select(['r.address', 'r.name', 'r.type', 'r.parameters', 'r.status', 'r.result_code', 'r.result_message', 'r.retry_count', 'r.received_at', 'r.temporary_result_code'])
      .where('r.mail_id', '=', row.mail_id)
      .where('r.project_id', '=', projectId)
      // To, then Cc, then Bcc, each in the order given
      .orderBy(sql`CASE r.type WHEN 'R' THEN 0 WHEN 'C' THEN 1 ELSE 2 END`)
      .orderBy('r.id')
      .execute(),
    attachFilesOfRequest(db, row.id),
  ]);

  const mail = {
    id: row.mail_id,
    id_day: row.mail_id_day,
    status: row.mail_status,
    recipient_count: row.mail_recipient_count,
    representative_address: row.representative_address,
    finished_at: row.mail_finished_at,
  };
  const first = recipients.find((r) => r.address === mail.representative_address) ?? recipients[0];
  const values = renderValuesFor(row, first);
  const content = {
    title: renderLeniently(compileTemplate(row.title), values),
    body: renderLeniently(compileTemplate(row.body), values),
  };
  return toMailDetail(row, mail, content, recipients, attachFiles, view);
}
