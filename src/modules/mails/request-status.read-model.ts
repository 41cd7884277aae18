import type { Db } from '../../db/schema.ts';
import { parseRequestId, requestById, requestNotFound } from './find-request.ts';
import { toRequestStatus, type RequestStatus, type ViewOptions } from './mails.mapper.ts';

/** getMailRequestStatus: one request's state and its mails counted by status; scoped by project. */
export async function getMailRequestStatus(db: Db, projectId: string, requestId: string, view: ViewOptions): Promise<RequestStatus> {
  const id = parseRequestId(requestId);
  const [request, counts] = await Promise.all([
    requestById(db, projectId, id).select(['mr.id', 'mr.id_day', 'mr.status', 'mr.request_count', 'mr.reservation_at']).executeTakeFirst(),
    // Joined to the request for the project scope; the mails side stays an index-only scan
    // of mails_request_status.
    requestById(db, projectId, id)
      .innerJoin('mails as m', 'm.request_id', 'mr.id')
      .select(['m.status', (eb) => eb.fn.countAll<string>().as('n')])
      .groupBy('m.status')
      .execute(),
  ]);
  if (!request) throw requestNotFound(requestId);
  const byStatus: Record<string, number> = {};
  for (const c of counts) byStatus[c.status] = Number(c.n);
  return toRequestStatus(request, byStatus, view);
}
