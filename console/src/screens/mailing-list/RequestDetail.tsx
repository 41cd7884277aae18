import type { ReactNode } from 'react';
import type { components } from '../../../../src/generated/api.ts';
import { common } from '../../components/messages.ts';
import { useT } from '../../i18n/i18n.tsx';
import { m } from './messages.ts';
import { SEND_NOW_MAX_AGE_MS } from './search.ts';
import { Dash, Dialog, fmtDate, StatusBadge } from './ui.tsx';

export type RequestRow = components['schemas']['RequestListItem'];
export type AskAction = (a: { kind: 'send' | 'cancel' | 'cancelReservation'; requestId: string }) => void;

/** Statuses a request can be cancelled in (the guide: 送信準備中, 送信準備, 送信中). */
export const CANCELABLE = ['P', 'R', 'I'];
/** Only a ready request can be sent now (and not one made more than 30 days ago). */
export const SENDABLE = ['R'];

/** [即時送信] and [送信をキャンセル], shown only in the statuses that allow them. */
export function RequestActionButtons({ row, ask }: { row: RequestRow; ask: AskAction }) {
  const t = useT(m);
  const status = row.emailStatus.code;
  const tooOld = Date.now() - row.requestDate.utc > SEND_NOW_MAX_AGE_MS;
  return (
    <div className="ml-row-actions">
      {SENDABLE.includes(status) && (
        <button type="button" onClick={() => ask({ kind: 'send', requestId: row.requestId })} disabled={tooOld} title={tooOld ? t('sendNowTooOld') : undefined}>
          {t('sendNow')}
        </button>
      )}
      {CANCELABLE.includes(status) && (
        <button type="button" className="danger" onClick={() => ask({ kind: 'cancel', requestId: row.requestId })}>
          {t('cancelSend')}
        </button>
      )}
    </div>
  );
}

function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="ml-field">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

/** Every field the guide names for a request. */
export function RequestFields({ row }: { row: RequestRow }) {
  const t = useT(m);
  return (
    <dl className="ml-dl">
      <Field label={t('requestId')}>{row.requestId}</Field>
      <Field label={t('senderAddress')}>{row.senderAddress}</Field>
      <Field label={t('requestDateTime')}>{fmtDate(row.requestDate)}</Field>
      <Field label={t('sendDateTime')}>{fmtDate(row.sendDate)}</Field>
      <Field label={t('elapsedTime')}>
        <Dash v={row.elapsedTime} />
      </Field>
      <Field label={t('reservation')}>
        {row.reservationStatus.label}
        {row.reservationDate && ` (${fmtDate(row.reservationDate)})`}
      </Field>
      <Field label={t('cancelDateTime')}>{fmtDate(row.cancelDate)}</Field>
      <Field label={t('requestCount')}>{row.requestCount.toLocaleString()}</Field>
      <Field label={t('status')}>
        <StatusBadge status={row.emailStatus} />
      </Field>
      <Field label={t('senderName')}>
        <Dash v={row.senderName} />
      </Field>
      <Field label={t('subject')}>{row.title}</Field>
      <Field label={t('templateId')}>
        <Dash v={row.templateSid} />
      </Field>
      <Field label={t('templateName')}>
        <Dash v={row.templateName} />
      </Field>
      <Field label={t('requesterIp')}>
        <Dash v={row.requesterIp} />
      </Field>
      <Field label={t('dispatchType')}>{row.dispatchType}</Field>
      <Field label={t('advertising')}>{row.advertising ? t('advertisingYes') : t('advertisingNo')}</Field>
      <Field label={t('recipientCount')}>{row.recipientCount.toLocaleString()}</Field>
    </dl>
  );
}

/** A request's details, with [メール別リストを見る] and the actions its status allows. */
export function RequestDetail({ row, ask, onClose, onOpenMails }: { row: RequestRow; ask: AskAction; onClose: () => void; onOpenMails: (id: string) => void }) {
  const t = useT(m);
  const tc = useT(common);
  return (
    <Dialog
      title={t('requestDetail')}
      onClose={onClose}
      className="ml-detail"
      actions={
        <>
          <button
            type="button"
            onClick={() => {
              onClose();
              onOpenMails(row.requestId);
            }}
          >
            {t('viewMailList')}
          </button>
          <button type="button" className="primary" onClick={onClose}>
            {tc('close')}
          </button>
        </>
      }
    >
      <RequestFields row={row} />
      <RequestActionButtons
        row={row}
        ask={(a) => {
          onClose();
          ask(a);
        }}
      />
    </Dialog>
  );
}
