import './manage.css';
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { api, unwrap } from '../../api/client.ts';
import { common } from '../../components/messages.ts';
import { useT } from '../../i18n/i18n.tsx';
import { m } from './delivery.messages.ts';
import { ErrorMessage, shortDate } from './shared.tsx';

const SIZE = 50;

/** Each destination domain's throttling state (getDeliveryDomainList): limits, rate, pause, last slow-down reply. */
export default function Delivery() {
  const t = useT(m);
  const c = useT(common);
  const [page, setPage] = useState(0);
  const list = useQuery({
    queryKey: ['delivery-domains', page],
    queryFn: async () => unwrap(await api.GET('/delivery/domains', { params: { query: { page, size: SIZE } } })),
  });
  const rows = list.data?.content ?? [];
  const pages = list.data?.totalPages ?? 0;
  return (
    <section className="manage" aria-labelledby="delivery-title">
      <h1 id="delivery-title">{t('title')}</h1>
      <p className="hint">{t('lead')}</p>
      <div className="toolbar">
        <button type="button" onClick={() => void list.refetch()}>
          {c('refresh')}
        </button>
      </div>
      <ErrorMessage error={list.error} />
      {list.isPending ? (
        <p>{c('loading')}</p>
      ) : rows.length === 0 ? (
        <p>{t('none')}</p>
      ) : (
        <div className="table-wrap">
          <table className="list">
            <caption className="visually-hidden">{t('title')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('domain')}</th>
                <th scope="col">{t('limits')}</th>
                <th scope="col">{t('inForce')}</th>
                <th scope="col">{t('sentLastMinute')}</th>
                <th scope="col">{t('open')}</th>
                <th scope="col">{t('paused')}</th>
                <th scope="col">{t('level')}</th>
                <th scope="col">{t('lastReply')}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((d) => (
                <tr key={d.domain} data-domain={d.domain}>
                  <td className="mono">{d.domain}</td>
                  <td>
                    {d.limits.connections} / {d.limits.perMinute}
                  </td>
                  <td>
                    {d.limitsInForce.connections} / {Math.round(d.limitsInForce.perMinute)}
                  </td>
                  <td>{d.sentLastMinute}</td>
                  <td>{d.openTransactions}</td>
                  <td>{d.pausedUntil ? <span className="status status-off">{t('pausedUntil', { date: shortDate(d.pausedUntil) })}</span> : ''}</td>
                  <td>{d.backoffLevel}</td>
                  <td className="mono" title={d.lastReply ?? ''}>
                    {d.lastReply ? `${shortDate(d.lastReplyDate)} ${d.lastReply}` : ''}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {pages > 1 && (
        <div className="toolbar">
          <button type="button" disabled={page === 0} onClick={() => setPage(page - 1)}>
            {c('previous')}
          </button>
          <span>{c('pageOf', { page: page + 1, total: pages })}</span>
          <button type="button" disabled={page + 1 >= pages} onClick={() => setPage(page + 1)}>
            {c('next')}
          </button>
        </div>
      )}
    </section>
  );
}
