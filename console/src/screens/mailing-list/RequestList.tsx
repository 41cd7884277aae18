import { keepPreviousData, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, unwrap } from '../../api/client.ts';
import { common } from '../../components/messages.ts';
import { useT } from '../../i18n/i18n.tsx';
import { m } from './messages.ts';
import { RequestActionButtons, RequestDetail, type RequestRow } from './RequestDetail.tsx';
import { type ListState, toFilters } from './search.ts';
import { ConfirmDialog, Dash, ErrorLine, fmtDate, Pager, SortTh, StatusBadge, Th } from './ui.tsx';

export function useRequestActions() {
  const qc = useQueryClient();
  const t = useT(m);
  const [notice, setNotice] = useState('');
  const [confirm, setConfirm] = useState<{ kind: 'send' | 'cancel' | 'cancelReservation'; requestId: string } | null>(null);
  const run = async (kind: 'send' | 'cancel' | 'cancelReservation', requestId: string) => {
    const path = kind === 'send' ? '/mails/requests/{requestId}/send' : '/mails/requests/{requestId}/cancel';
    unwrap(await api.POST(path, { params: { path: { requestId } } }));
    await qc.invalidateQueries({ queryKey: ['mails'] });
    setNotice(kind === 'send' ? t('sentNow', { id: requestId }) : kind === 'cancel' ? t('canceled', { id: requestId }) : t('reservationCanceled'));
  };
  const dialog = confirm && (
    <ConfirmDialog
      title={confirm.kind === 'send' ? t('confirmSendNowTitle') : confirm.kind === 'cancel' ? t('confirmCancelTitle') : t('cancelReservation')}
      message={
        confirm.kind === 'send'
          ? t('confirmSendNow', { id: confirm.requestId })
          : confirm.kind === 'cancel'
            ? t('confirmCancel', { id: confirm.requestId })
            : t('confirmCancelReservation', { id: confirm.requestId })
      }
      onConfirm={() => run(confirm.kind, confirm.requestId)}
      onClose={() => setConfirm(null)}
    />
  );
  return { notice, setNotice, ask: setConfirm, dialog };
}

export function RequestList({ state, onState, onOpenMails }: { state: ListState; onState: (s: ListState) => void; onOpenMails: (requestId: string) => void }) {
  const t = useT(m);
  const tc = useT(common);
  const actions = useRequestActions();
  const [open, setOpen] = useState<RequestRow | null>(null);
  const filters = toFilters(state.search);
  const q = useQuery({
    queryKey: ['mails', 'requests', filters, state.page, state.size, state.sort],
    queryFn: async () =>
      unwrap(
        await api.GET('/mails/requests', {
          params: { query: { ...filters, page: state.page, size: state.size, sort: state.sort ? [state.sort] : undefined } },
        }),
      ),
    placeholderData: keepPreviousData,
  });
  const onSort = (sort: string) => onState({ ...state, sort, page: 0 });
  const sortTh = (label: string, property: string) => <SortTh label={label} property={property} sort={state.sort} onSort={onSort} />;
  const rows = q.data?.content ?? [];
  return (
    <section aria-labelledby="ml-list-title">
      <h2 id="ml-list-title" className="visually-hidden">
        {t('tabRequests')}
      </h2>
      <p role="status" className="ml-notice">
        {actions.notice}
      </p>
      <ErrorLine error={q.error} />
      <div className="table-wrap">
        <table className="list ml-table" aria-labelledby="ml-list-title" aria-busy={q.isFetching || undefined}>
          <thead>
            <tr>
              <Th>{t('requestId')}</Th>
              <Th>{t('senderAddress')}</Th>
              {sortTh(t('requestDateTime'), 'createUtc')}
              {sortTh(t('sendDateTime'), 'sendUtc')}
              <Th>{t('elapsedTime')}</Th>
              {sortTh(t('reservation'), 'reservationUtc')}
              <Th>{t('cancelDateTime')}</Th>
              <Th>{t('requestCount')}</Th>
              {sortTh(t('status'), 'statusCode')}
              <Th>{t('senderName')}</Th>
              <Th>{t('subject')}</Th>
              <Th>{t('templateId')}</Th>
              <Th>{t('templateName')}</Th>
              <Th>{t('requesterIp')}</Th>
              <Th>{t('dispatchType')}</Th>
              <Th>{t('advertising')}</Th>
              {sortTh(t('recipientCount'), 'recipientCount')}
              <th scope="col" className="ml-sticky-end">
                {t('actions')}
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 && !q.isPending && (
              <tr>
                <td colSpan={18}>{tc('noData')}</td>
              </tr>
            )}
            {rows.map((r: RequestRow) => {
              return (
                <tr key={r.requestId} data-request-id={r.requestId}>
                  <td className="ml-mono">
                    <button type="button" className="link" onClick={() => setOpen(r)} aria-label={t('requestDetailOf', { id: r.requestId })}>
                      {r.requestId}
                    </button>
                  </td>
                  <td>{r.senderAddress}</td>
                  <td className="ml-nowrap">{fmtDate(r.requestDate)}</td>
                  <td className="ml-nowrap">{fmtDate(r.sendDate)}</td>
                  <td className="ml-nowrap">
                    <Dash v={r.elapsedTime} />
                  </td>
                  <td>
                    {r.reservationStatus.label}
                    {r.reservationDate && <div className="ml-nowrap hint">{fmtDate(r.reservationDate)}</div>}
                  </td>
                  <td className="ml-nowrap">{fmtDate(r.cancelDate)}</td>
                  <td className="ml-num">{r.requestCount}</td>
                  <td>
                    <StatusBadge status={r.emailStatus} />
                  </td>
                  <td>
                    <Dash v={r.senderName} />
                  </td>
                  <td>{r.title}</td>
                  <td>
                    <Dash v={r.templateSid} />
                  </td>
                  <td>
                    <Dash v={r.templateName} />
                  </td>
                  <td className="ml-mono">
                    <Dash v={r.requesterIp} />
                  </td>
                  <td>{r.dispatchType}</td>
                  <td>{r.advertising ? t('advertisingYes') : t('advertisingNo')}</td>
                  <td className="ml-num">
                    <button
                      type="button"
                      className="link"
                      onClick={() => onOpenMails(r.requestId)}
                      aria-label={t('recipientCountLink', { n: r.recipientCount.toLocaleString(), id: r.requestId })}
                    >
                      {r.recipientCount.toLocaleString()}
                    </button>
                  </td>
                  <td className="ml-actions ml-sticky-end">
                    <RequestActionButtons row={r} ask={actions.ask} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <Pager
        label={t('tabRequests')}
        info={q.data}
        size={state.size}
        onPage={(page) => onState({ ...state, page })}
        onSize={(size) => onState({ ...state, size, page: 0 })}
      />
      {open && <RequestDetail row={open} ask={actions.ask} onClose={() => setOpen(null)} onOpenMails={onOpenMails} />}
      {actions.dialog}
    </section>
  );
}
