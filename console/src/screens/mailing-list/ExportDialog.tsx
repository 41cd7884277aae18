import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import type { components } from '../../../../src/generated/api.ts';
import { api, unwrap } from '../../api/client.ts';
import { common } from '../../components/messages.ts';
import { emailStatusLabel } from '../../../../src/shared/i18n.ts';
import { useLang, useT } from '../../i18n/i18n.tsx';
import { type MsgKey, m } from './messages.ts';
import { type Filters, localDate } from './search.ts';
import { Dash, Dialog, ErrorLine, fmtDate, StatusBadge, Th } from './ui.tsx';

type View = components['schemas']['ExportView'];

function size(bytes: number | null): string {
  if (bytes === null) return '-';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

type FilterValue = components['schemas']['ExportFilterValue'];

const FEEDBACK_LABEL: Record<string, MsgKey> = { HARD: 'feedbackHard', SOFT: 'feedbackSoft', ANY: 'feedbackAny' };

/** The search a file was made for, in words: "送信リクエスト日: 2026-11-05 – 2026-12-04; メールの件名: Alpha". */
function useDescribeFilters() {
  const t = useT(m);
  const { lang } = useLang();
  return (f: Record<string, FilterValue>): string => {
    const parts: string[] = [];
    const date = (v: FilterValue | undefined) => (typeof v === 'number' ? localDate(new Date(v)) : typeof v === 'string' ? v : '');
    const start = date(f.startUtc ?? f.startDateTime);
    const end = date(f.endUtc ?? f.endDateTime);
    if (start || end) parts.push(`${t('requestDate')}: ${start} – ${end}`);
    const labels: [string, MsgKey][] = [
      ['requestId', 'requestId'],
      ['mailId', 'mailId'],
      ['recipientAddress', 'recipientAddress'],
      ['senderAddress', 'senderAddress'],
      ['title', 'subject'],
      ['templateSid', 'templateId'],
      ['dispatchType', 'dispatchType'],
    ];
    const status = f.sendStatus;
    if (status !== undefined) {
      const codes = (Array.isArray(status) ? status : String(status).split(',')).map(String);
      parts.push(`${t('status')}: ${codes.map((c) => emailStatusLabel(c, lang).label).join(', ')}`);
    }
    for (const [k, label] of labels) if (f[k] !== undefined && f[k] !== '') parts.push(`${t(label)}: ${String(f[k])}`);
    const bounce = FEEDBACK_LABEL[String(f.bounceType ?? '').toUpperCase()];
    if (bounce) parts.push(`${t('feedback')}: ${t(bounce)}`);
    if (f.complained === true || String(f.complained).toLowerCase() === 'true') parts.push(`${t('feedback')}: ${t('feedbackComplained')}`);
    return parts.join('; ');
  };
}

/**
 * The guide's エクセルダウンロードリスト popup: [ファイル作成をリクエスト] for the list as searched
 * (POST /exports), the files with their state and expiry (GET /exports, polled while one is being
 * made), [ダウンロード] for a completed one, [確認] to close.
 */
export function ExportDialog({ view, filters, onClose }: { view: View; filters: Filters; onClose: () => void }) {
  const t = useT(m);
  const tc = useT(common);
  const qc = useQueryClient();
  const [notice, setNotice] = useState('');
  const list = useQuery({
    queryKey: ['mailing-list', 'exports'],
    queryFn: async () => unwrap(await api.GET('/exports', { params: { query: { page: 0, size: 20 } } })),
    refetchInterval: (q) => (q.state.data?.content.some((e) => e.status.code === 'R' || e.status.code === 'I') ? 1000 : false),
    staleTime: 0,
  });
  const create = useMutation({
    mutationFn: async () => unwrap(await api.POST('/exports', { body: { view, filters } })),
    onSuccess: async () => {
      setNotice(t('exportRequested'));
      await qc.invalidateQueries({ queryKey: ['mailing-list', 'exports'] });
    },
  });
  const rows = list.data?.content ?? [];
  const describe = useDescribeFilters();
  return (
    <Dialog
      title={t('exportTitle')}
      onClose={onClose}
      className="ml-export"
      actions={
        <button type="button" className="primary" onClick={onClose}>
          {tc('confirm')}
        </button>
      }
    >
      <p className="hint">{t('exportHint')}</p>
      <div className="toolbar">
        <button type="button" className="primary" onClick={() => create.mutate()} disabled={create.isPending}>
          {t('exportRequest')}
        </button>
        <span role="status">{notice}</span>
      </div>
      <ErrorLine error={create.error ?? list.error} />
      <div className="table-wrap">
        <table className="list">
          <caption className="visually-hidden">{t('exportTitle')}</caption>
          <thead>
            <tr>
              <Th>{t('requestDateTime')}</Th>
              <Th>{t('exportView')}</Th>
              <Th>{t('exportFilters')}</Th>
              <Th>{t('exportStatus')}</Th>
              <Th>{t('exportRows')}</Th>
              <Th>{t('exportSize')}</Th>
              <Th>{t('exportExpire')}</Th>
              <Th>{t('exportFile')}</Th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 && !list.isPending && (
              <tr>
                <td colSpan={8}>{t('exportNone')}</td>
              </tr>
            )}
            {rows.map((e) => (
              <tr key={e.exportId} data-export-id={e.exportId}>
                <td className="ml-nowrap">{fmtDate(e.requestDate)}</td>
                <td>{t(`view${e.view}` as 'viewrequests')}</td>
                <td className="ml-filters">{describe(e.filters)}</td>
                <td>
                  <StatusBadge status={e.status} />
                  {e.errorMessage && <div className="field-error">{e.errorMessage}</div>}
                </td>
                <td className="ml-num">
                  <Dash v={e.rowCount} />
                </td>
                <td className="ml-num">{size(e.fileSize)}</td>
                <td className="ml-nowrap">{fmtDate(e.expireDate)}</td>
                <td>
                  {e.status.code === 'C' && (
                    <a
                      className="ml-button-link"
                      href={`/api/v1/exports/${encodeURIComponent(e.exportId)}/file`}
                      download
                      aria-label={t('downloadExport', { date: fmtDate(e.requestDate) })}
                    >
                      {t('download')}
                    </a>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Dialog>
  );
}
