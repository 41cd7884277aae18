import type { MailStatus } from '../../shared/statuses.ts';
import { sql } from 'kysely';
import type { Db } from '../../db/schema.ts';
import { type HistoryRange, historyRangeOf, inHistoryRange } from '../../db/history-range.ts';
import { notFound } from '../../shared/errors.ts';
import { formatNumericId, parseNumericId } from '../../shared/ids.ts';
import { compileTemplate, renderLeniently } from '../../shared/render-tags.ts';
import { attachFilesOfRequest } from '../files/files.read-model.ts';
import { findRequest, requestById } from './find-request.ts';
import { toPage, type Page } from '../../http/paging.ts';
import type { MailListQuery } from './list-query.ts';
import { matchesNothing, type ViewFilters } from './view-filters.ts';
import { dir, feedbackMatch, fetchPage, resultCodeMatch } from './view-sql.ts';
import {
  publicId,
  renderValuesFor,
  toMailDetail,
  toMailListItem,
  type MailDetail,
  type MailListItem,
  type MailRequestRow,
  type RecipientRow,
  type RenderRecipientRow,
  type ViewOptions,
} from './mails.mapper.ts';

/**
 * The mail views (getMailList, getMail) and the mail view's export rows, answering API shapes.
 * Every query is scoped by project: another project's ids answer 77103 exactly like unknown or
 * malformed ones.
 */

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

/** The request columns the mail list renders with. */
const MAIL_LIST_REQUEST_COLUMNS = [...MAIL_REQUEST_COLUMNS, 'mr.dispatch_type'] as const;

const MAIL_COLUMNS = ['m.id', 'm.id_day', 'm.status', 'm.recipient_count', 'm.representative_address', 'm.finished_at'] as const;

// A request's mails get their ids in seq order (one nextval per mail, in seq order, when they
// are stored), so mailId order is seq order: mails_request_seq serves it, where ordering by
// m.id would walk the primary key across every request's mails. Groups and recipient files are
// stored in parts at once (requests/store-in-parts.ts): ids rise with seq within a part but
// interleave between parts, so there "mailId order" is seq order (the recipients' order).
const MAIL_SORT_COLUMNS = {
  id: 'm.seq',
  createUtc: 'm.created_at',
  statusCode: 'm.status',
} as const;

const mailNotFound = (mailId: string) => notFound(`mailId: mail ${mailId} does not exist`);

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

/**
 * The recipient each mail was rendered with: its representative (first) recipient. One
 * statement for the whole page, through recipients_mail.
 */
async function firstRecipients(db: Db, projectId: string, mails: { id: string; representative_address: string }[], months: HistoryRange) {
  const byMail = new Map<string, RenderRecipientRow>();
  if (mails.length === 0) return byMail;
  const rows = await db
    .selectFrom('recipients as r')
    .innerJoin('mails as m', 'm.id', 'r.mail_id')
    .distinctOn('r.mail_id')
    .select(['r.mail_id', 'r.address', 'r.name', 'r.parameters'])
    .where(
      'r.mail_id',
      'in',
      mails.map((m) => m.id),
    )
    .where('r.project_id', '=', projectId)
    .where(inHistoryRange('r.created_at', months))
    .where(inHistoryRange('m.created_at', months))
    .orderBy('r.mail_id')
    .orderBy(sql`r.address = m.representative_address`, 'desc')
    .orderBy('r.id')
    .execute();
  for (const r of rows) byMail.set(r.mail_id, r);
  return byMail;
}

/** The mails of a request (created at `months`: its created_at) that match the filters. */
function mailListBase(db: Db, projectId: string, requestRowId: string, months: HistoryRange, q: ViewFilters) {
  let base = db
    .selectFrom('mails as m')
    .where('m.request_id', '=', requestRowId)
    .where('m.project_id', '=', projectId)
    .where(inHistoryRange('m.created_at', months));
  if (q.mailId) base = base.where('m.id', '=', String(q.mailId.seq)).where('m.id_day', '=', q.mailId.day);
  if (q.sendStatus) base = base.where('m.status', 'in', q.sendStatus as MailStatus[]);
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
          .where(inHistoryRange('r.created_at', months))
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
          .where(inHistoryRange('r.created_at', months))
          .where(resultCodeMatch(codes)),
      ),
    );
  }
  const feedback = feedbackMatch(q);
  if (feedback.length > 0) {
    base = base.where(({ exists, selectFrom }) =>
      exists(
        selectFrom('recipients as r')
          .select(sql`1`.as('one'))
          .whereRef('r.mail_id', '=', 'm.id')
          .where('r.request_id', '=', requestRowId)
          .where('r.project_id', '=', projectId)
          .where(inHistoryRange('r.created_at', months))
          .where(sql<boolean>`${sql.join(feedback, sql` AND `)}`),
      ),
    );
  }
  return base;
}

export async function getMailList(db: Db, projectId: string, requestId: string, q: MailListQuery, view: ViewOptions): Promise<Page<MailListItem>> {
  const request = await findRequest(db, projectId, requestId, MAIL_LIST_REQUEST_COLUMNS);
  // Request-level filters (the title is the request's: one template for all its mails) keep all
  // of its mails or none; a malformed mailId or requestId matches nothing.
  if (matchesNothing(q) || !requestMatches(request, q)) return toPage([], 0, q.paging, q.sort);

  const months = historyRangeOf([request.created_at]);
  const base = mailListBase(db, projectId, request.id, months, q);
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
  const recipients = await firstRecipients(db, projectId, rows, months);
  const title = compileTemplate(request.title);
  const items = rows.map((mail) => {
    const values = renderValuesFor(request, recipients.get(mail.id));
    return toMailListItem(request, mail, renderLeniently(title, values), view);
  });
  return toPage(items, total, q.paging, q.sort, exact);
}

// ---------- every mail of the view, by keyset (exports) ----------

/** Every matching mail of the filters' request in mailId order, in batches. */
export async function* iterateMailRows(db: Db, projectId: string, f: ViewFilters, view: ViewOptions, batchSize: number): AsyncGenerator<MailListItem[]> {
  if (matchesNothing(f) || !f.requestId) return;
  const request = await requestById(db, projectId, f.requestId).select(MAIL_LIST_REQUEST_COLUMNS).executeTakeFirst();
  if (!request || !requestMatches(request, f)) return;
  const title = compileTemplate(request.title);
  let afterSeq = 0;
  const months = historyRangeOf([request.created_at]);
  for (;;) {
    const rows = await mailListBase(db, projectId, request.id, months, f)
      .select([...MAIL_COLUMNS, 'm.seq'])
      .where('m.seq', '>', afterSeq)
      .orderBy('m.seq')
      .limit(batchSize)
      .execute();
    if (rows.length === 0) return;
    const recipients = await firstRecipients(db, projectId, rows, months);
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
      .select([
        'r.address',
        'r.name',
        'r.type',
        'r.parameters',
        'r.status',
        'r.result_code',
        'r.result_message',
        'r.retry_count',
        'r.received_at',
        'r.temporary_result_code',
        'r.bounce_type',
        'r.bounce_status',
        'r.bounce_message',
        'r.bounced_at',
        'r.complaint_type',
        'r.complained_at',
      ])
      .where('r.mail_id', '=', row.mail_id)
      .where('r.project_id', '=', projectId)
      .where(inHistoryRange('r.created_at', historyRangeOf([row.created_at])))
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
