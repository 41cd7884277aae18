import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import type { components } from '../../../../src/generated/api.ts';
import { api, unwrap } from '../../api/client.ts';
import { common } from '../../components/messages.ts';
import { useT } from '../../i18n/i18n.tsx';
import { MailDetail } from './MailDetail.tsx';
import { m } from './messages.ts';
import { type ListState, toFilters } from './search.ts';
import { Dash, ErrorLine, FeedbackBadges, fmtDate, Pager, ResultCode, SortTh, StatusBadge, Th, YesNo } from './ui.tsx';

export type RecipientRow = components['schemas']['RecipientListItem'];

export function RecipientList({
  state,
  onState,
  onOpenMails,
}: {
  state: ListState;
  onState: (s: ListState) => void;
  onOpenMails: (requestId: string) => void;
}) {
  const t = useT(m);
  const tc = useT(common);
  const [open, setOpen] = useState<RecipientRow | null>(null);
  const filters = toFilters(state.search);
  const q = useQuery({
    queryKey: ['mails', 'recipients', filters, state.page, state.size, state.sort],
    queryFn: async () =>
      unwrap(
        await api.GET('/mails/recipients', {
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
        {t('tabRecipients')}
      </h2>
      <ErrorLine error={q.error} />
      <div className="table-wrap">
        <table className="list ml-table" aria-labelledby="ml-list-title" aria-busy={q.isFetching || undefined}>
          <thead>
            <tr>
              <Th>{t('mailId')}</Th>
              <Th>{t('requestId')}</Th>
              {sortTh(t('requestDateTime'), 'createUtc')}
              {sortTh(t('sendDateTime'), 'sendUtc')}
              <Th>{t('reservationDateTime')}</Th>
              {sortTh(t('status'), 'statusCode')}
              <Th>{t('address')}</Th>
              <Th>{t('received')}</Th>
              <Th>{t('unsubscribed')}</Th>
              <Th>{t('resultCode')}</Th>
              <Th>{t('feedback')}</Th>
              <Th>{t('retryCount')}</Th>
              {sortTh(t('receivedDate'), 'receivedUtc')}
              <Th>{t('unsubscribedDate')}</Th>
              <Th>{t('subject')}</Th>
              <Th>{t('templateId')}</Th>
              <Th>{t('templateName')}</Th>
              <Th>{t('projectId')}</Th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 && !q.isPending && (
              <tr>
                <td colSpan={18}>{tc('noData')}</td>
              </tr>
            )}
            {rows.map((r) => (
              <tr key={`${r.mailId}-${r.type.code}-${r.address}`} data-mail-id={r.mailId}>
                <td className="ml-mono">
                  <button type="button" className="link" onClick={() => setOpen(r)} aria-label={t('detailsOf', { id: r.mailId })}>
                    {r.mailId}
                  </button>
                </td>
                <td className="ml-mono">{r.requestId}</td>
                <td className="ml-nowrap">{fmtDate(r.requestDate)}</td>
                <td className="ml-nowrap">{fmtDate(r.sendDate)}</td>
                <td className="ml-nowrap">{fmtDate(r.reservationDate)}</td>
                <td>
                  <StatusBadge status={r.emailStatus} />
                </td>
                <td>{r.address}</td>
                <td>
                  <YesNo v={r.received} />
                </td>
                <td>
                  <YesNo v={r.unsubscribed} />
                </td>
                <td>
                  <ResultCode code={r.sendResultCode} text={r.sendResultCodeMessage} />
                </td>
                <td>
                  <FeedbackBadges r={r} />
                </td>
                <td className="ml-num">{r.retryCount}</td>
                <td className="ml-nowrap">{fmtDate(r.receivedDate)}</td>
                <td className="ml-nowrap">{fmtDate(r.unsubscribedDate)}</td>
                <td>{r.title}</td>
                <td>
                  <Dash v={r.templateSid} />
                </td>
                <td>
                  <Dash v={r.templateName} />
                </td>
                <td className="ml-mono">{r.projectId}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Pager
        label={t('tabRecipients')}
        info={q.data}
        size={state.size}
        onPage={(page) => onState({ ...state, page })}
        onSize={(size) => onState({ ...state, size, page: 0 })}
      />
      {open && <MailDetail mailId={open.mailId} recipient={open} onClose={() => setOpen(null)} onOpenMails={onOpenMails} />}
    </section>
  );
}
