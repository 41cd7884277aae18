import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { type ReactNode, useState } from 'react';
import { api, unwrap } from '../../api/client.ts';
import { common } from '../../components/messages.ts';
import { useT } from '../../i18n/i18n.tsx';
import { MailDetail } from './MailDetail.tsx';
import { m } from './messages.ts';
import { RequestActionButtons, RequestFields } from './RequestDetail.tsx';
import { useRequestActions } from './RequestList.tsx';
import { type ListState, toFilters } from './search.ts';
import { Dash, ErrorLine, fmtDate, Pager, SortTh, StatusBadge, Th } from './ui.tsx';

/** The guide's メール別リスト: the mails of one request (GET /mails/requests/{requestId}/mails). */
export function MailList({
  requestId,
  state,
  onState,
  searchBar,
}: {
  requestId: string;
  state: ListState;
  onState: (s: ListState) => void;
  searchBar: ReactNode;
}) {
  const t = useT(m);
  const tc = useT(common);
  const [open, setOpen] = useState<string | null>(null);
  const { startUtc: _s, endUtc: _e, requestId: _r, ...filters } = toFilters(state.search, { dates: false });
  const q = useQuery({
    queryKey: ['mails', 'mails', requestId, filters, state.page, state.size, state.sort],
    queryFn: async () =>
      unwrap(
        await api.GET('/mails/requests/{requestId}/mails', {
          params: { path: { requestId }, query: { ...filters, page: state.page, size: state.size, sort: state.sort ? [state.sort] : undefined } },
        }),
      ),
    placeholderData: keepPreviousData,
  });
  const actions = useRequestActions();
  const request = useQuery({
    queryKey: ['mails', 'request', requestId],
    queryFn: async () => unwrap(await api.GET('/mails/requests', { params: { query: { requestId } } })).content[0] ?? null,
  });
  const onSort = (sort: string) => onState({ ...state, sort, page: 0 });
  const sortTh = (label: string, property: string) => <SortTh label={label} property={property} sort={state.sort} onSort={onSort} />;
  const rows = q.data?.content ?? [];
  return (
    <section aria-labelledby="ml-list-title">
      <h2 id="ml-list-title">
        {t('mailListTitle')} <span className="ml-mono ml-sub">{t('mailListOf', { id: requestId })}</span>
      </h2>
      <ErrorLine error={request.error} />
      {request.data && (
        <div className="card ml-request-card">
          <RequestFields row={request.data} />
          <RequestActionButtons row={request.data} ask={actions.ask} />
        </div>
      )}
      <p role="status" className="ml-notice">
        {actions.notice}
      </p>
      {searchBar}
      <ErrorLine error={q.error} />
      <div className="table-wrap">
        <table className="list ml-table" aria-labelledby="ml-list-title" aria-busy={q.isFetching || undefined}>
          <thead>
            <tr>
              {sortTh(t('mailId'), 'id')}
              <Th>{t('representativeRecipient')}</Th>
              <Th>{t('subject')}</Th>
              {sortTh(t('status'), 'statusCode')}
              {sortTh(t('requestDateTime'), 'createUtc')}
              <Th>{t('sendDateTime')}</Th>
              <Th>{t('reservationDateTime')}</Th>
              <Th>{t('templateId')}</Th>
              <Th>{t('templateName')}</Th>
              <Th>{t('requesterIp')}</Th>
              <Th>{t('requestId')}</Th>
              <Th>{t('projectId')}</Th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 && !q.isPending && (
              <tr>
                <td colSpan={12}>{tc('noData')}</td>
              </tr>
            )}
            {rows.map((r) => (
              <tr key={r.mailId} data-mail-id={r.mailId}>
                <td className="ml-mono">
                  <button type="button" className="link" onClick={() => setOpen(r.mailId)} aria-label={t('detailsOf', { id: r.mailId })}>
                    {r.mailId}
                  </button>
                </td>
                <td>{r.representativeRecipient}</td>
                <td>{r.title}</td>
                <td>
                  <StatusBadge status={r.emailStatus} />
                </td>
                <td className="ml-nowrap">{fmtDate(r.requestDate)}</td>
                <td className="ml-nowrap">{fmtDate(r.sendDate)}</td>
                <td className="ml-nowrap">{fmtDate(r.reservationDate)}</td>
                <td>
                  <Dash v={r.templateSid} />
                </td>
                <td>
                  <Dash v={r.templateName} />
                </td>
                <td className="ml-mono">
                  <Dash v={r.requesterIp} />
                </td>
                <td className="ml-mono">{r.requestId}</td>
                <td className="ml-mono">{r.projectId}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Pager
        label={t('mailListTitle')}
        info={q.data}
        size={state.size}
        onPage={(page) => onState({ ...state, page })}
        onSize={(size) => onState({ ...state, size, page: 0 })}
      />
      {open && <MailDetail mailId={open} onClose={() => setOpen(null)} />}
      {actions.dialog}
    </section>
  );
}
