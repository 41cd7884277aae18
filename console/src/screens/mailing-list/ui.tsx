import { Dialog } from '../../components/Dialog.tsx';
import { type ReactNode, useEffect, useRef, useState } from 'react';
import type { components } from '../../../../src/generated/api.ts';
import { common } from '../../components/messages.ts';
import { useT } from '../../i18n/i18n.tsx';
import { m } from './messages.ts';
import { PAGE_SIZES, parseSort } from './search.ts';

type NesDateTime = components['schemas']['NesDateTime'];

/** `2018-11-20 15:19:53 240` → `2018-11-20 15:19:53` (the display time zone, as the API formats it). */
export function fmtDate(d: NesDateTime | null | undefined): string {
  if (!d) return '-';
  return d.formattedDateTime.slice(0, 19);
}

export function Dash({ v }: { v: string | number | null | undefined }) {
  return <>{v === null || v === undefined || v === '' ? '-' : v}</>;
}

export function StatusBadge({ status }: { status: { code: string; label: string } }) {
  return (
    <span className={`status ml-status ml-status-${status.code}`} data-code={status.code}>
      {status.label}
    </span>
  );
}

export { Dialog };

/** The guide's confirm popup: [確認] runs the action, [キャンセル] closes. */
export function ConfirmDialog({
  title,
  message,
  onConfirm,
  onClose,
}: {
  title: string;
  message: string;
  onConfirm: () => Promise<unknown>;
  onClose: () => void;
}) {
  const tc = useT(common);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  // The safe choice has the focus first: Enter right away does not send or cancel anything.
  const cancelRef = useRef<HTMLButtonElement>(null);
  useEffect(() => cancelRef.current?.focus(), []);
  const run = async () => {
    setBusy(true);
    setError('');
    try {
      await onConfirm();
      onClose();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      setBusy(false);
    }
  };
  return (
    <Dialog
      title={title}
      onClose={onClose}
      className="ml-confirm"
      actions={
        <>
          <button type="button" className="primary" onClick={run} disabled={busy}>
            {tc('confirm')}
          </button>
          <button type="button" onClick={onClose} ref={cancelRef}>
            {tc('cancel')}
          </button>
        </>
      }
    >
      <p>{message}</p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </Dialog>
  );
}

/** A column header that sorts by `property` (asc, then desc) and says how it is sorted. */
export function SortTh({ label, property, sort, onSort }: { label: string; property: string; sort: string; onSort: (sort: string) => void }) {
  const t = useT(m);
  const cur = parseSort(sort);
  const dir = cur?.property === property ? cur.dir : undefined;
  return (
    <th scope="col" aria-sort={dir === 'asc' ? 'ascending' : dir === 'desc' ? 'descending' : undefined}>
      <button type="button" onClick={() => onSort(`${property},${dir === 'asc' ? 'desc' : 'asc'}`)} title={t('sortBy', { column: label })}>
        {label}
        <span aria-hidden="true" className="ml-sort-mark">
          {dir === 'asc' ? ' ▲' : dir === 'desc' ? ' ▼' : ' ⇅'}
        </span>
      </button>
    </th>
  );
}

export function Th({ children }: { children: ReactNode }) {
  return <th scope="col">{children}</th>;
}

export interface PageInfo {
  totalElements: number;
  totalPages: number;
  number: number;
  last: boolean;
  totalElementsExact?: boolean;
}

export function Pager({
  info,
  size,
  onPage,
  onSize,
  label,
}: {
  info: PageInfo | undefined;
  size: number;
  onPage: (p: number) => void;
  onSize: (s: number) => void;
  label: string;
}) {
  const tc = useT(common);
  const t = useT(m);
  const page = info?.number ?? 0;
  const exact = info?.totalElementsExact !== false;
  const total = info ? (exact ? tc('totalCount', { n: info.totalElements.toLocaleString() }) : t('atLeast', { n: info.totalElements.toLocaleString() })) : '';
  return (
    <nav className="pager" aria-label={label}>
      <span className="ml-total" data-testid="total">
        {total}
      </span>
      <label className="ml-inline">
        {t('pageSize')}
        <select value={size} onChange={(e) => onSize(Number(e.target.value))}>
          {PAGE_SIZES.map((n) => (
            <option key={n} value={n}>
              {t('pageSizeN', { n })}
            </option>
          ))}
        </select>
      </label>
      <button type="button" onClick={() => onPage(page - 1)} disabled={!info || page === 0}>
        {tc('previous')}
      </button>
      <span aria-live="polite">
        {info ? tc('pageOf', { page: page + 1, total: exact ? Math.max(1, info.totalPages) : `${Math.max(1, info.totalPages)}+` }) : ''}
      </span>
      <button type="button" onClick={() => onPage(page + 1)} disabled={!info || info.last}>
        {tc('next')}
      </button>
    </nav>
  );
}

export function YesNo({ v }: { v: boolean }) {
  const t = useT(m);
  return <>{v ? t('yes') : t('no')}</>;
}

export function ErrorLine({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {error instanceof Error ? error.message : String(error)}
    </p>
  );
}

type Feedback = Pick<components['schemas']['Recipient'], 'bounceType' | 'bounceStatus' | 'bounceMessage' | 'complaintType'>;

/** What came back after the mail was handed over: a bounce badge (status and diagnostic on hover) and a complaint badge. */
export function FeedbackBadges({ r }: { r: Feedback }) {
  const t = useT(m);
  if (!r.bounceType && !r.complaintType) return <>-</>;
  return (
    <span className="ml-feedback">
      {r.bounceType && (
        <span
          className={`status ml-bounce ml-bounce-${r.bounceType.code}`}
          data-code={r.bounceType.code}
          title={[r.bounceStatus, r.bounceMessage].filter(Boolean).join(' ') || undefined}
        >
          {r.bounceType.label}
          {r.bounceStatus && ` ${r.bounceStatus}`}
        </span>
      )}
      {r.complaintType && (
        <span className="status ml-complaint" data-code={r.complaintType}>
          {t('complaintBadge', { type: r.complaintType })}
        </span>
      )}
    </span>
  );
}

export function ResultCode({ code, text }: { code: string | null; text: string | null }) {
  if (!code) return <>-</>;
  return (
    <>
      <code className="ml-code">{code}</code>
      {text && <div className="hint">{text}</div>}
    </>
  );
}
