import { useQuery } from '@tanstack/react-query';
import { type ReactNode, useState } from 'react';
import { api, unwrap } from '../../api/client.ts';
import { common } from '../../components/messages.ts';
import { useT } from '../../i18n/i18n.tsx';
import { m } from './messages.ts';
import type { RecipientRow } from './RecipientList.tsx';
import { useRequestActions } from './RequestList.tsx';
import { Dash, Dialog, ErrorLine, FeedbackBadges, fmtDate, ResultCode, StatusBadge, Th, YesNo } from './ui.tsx';

function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="ml-field">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * One mail (GET /mails/{mailId}): the guide's 送信メールの詳細, 受信情報 and メール内容. The body is
 * shown only inside `<iframe sandbox="">` (no scripts, a unique origin), never in the console's page.
 */
export function MailDetail({
  mailId,
  recipient,
  onClose,
  onOpenMails,
}: {
  mailId: string;
  recipient?: RecipientRow;
  onClose: () => void;
  onOpenMails?: (requestId: string) => void;
}) {
  const t = useT(m);
  const tc = useT(common);
  const [showBody, setShowBody] = useState(false);
  const actions = useRequestActions();
  const q = useQuery({
    queryKey: ['mails', 'mail', mailId],
    queryFn: async () => unwrap(await api.GET('/mails/{mailId}', { params: { path: { mailId } } })),
  });
  const d = q.data;
  const canCancelReservation = d?.reservationDate && ['P', 'R'].includes(d.emailStatus.code);
  return (
    <>
      <Dialog
        title={t('mailDetail')}
        onClose={onClose}
        className="ml-detail"
        actions={
          <>
            {d && onOpenMails && (
              <button
                type="button"
                onClick={() => {
                  onClose();
                  onOpenMails(d.requestId);
                }}
              >
                {t('viewMailList')}
              </button>
            )}
            <button type="button" className="primary" onClick={onClose}>
              {tc('close')}
            </button>
          </>
        }
      >
        <ErrorLine error={q.error} />
        <p role="status" className="ml-notice">
          {actions.notice}
        </p>
        {!d && !q.error && <p>{tc('loading')}</p>}
        {d && (
          <>
            <section aria-labelledby="ml-d-mail">
              <h3 id="ml-d-mail">{t('sectionMail')}</h3>
              <dl className="ml-dl">
                <Field label={t('projectId')}>{d.projectId}</Field>
                <Field label={t('requestId')}>{d.requestId}</Field>
                <Field label={t('requestDateTime')}>{fmtDate(d.requestDate)}</Field>
                <Field label={t('sendDateTime')}>{fmtDate(d.sendDate)}</Field>
                <Field label={t('reservationDateTime')}>
                  {fmtDate(d.reservationDate)}
                  {canCancelReservation && (
                    <>
                      {' '}
                      <button type="button" className="danger" onClick={() => actions.ask({ kind: 'cancelReservation', requestId: d.requestId })}>
                        {t('cancelReservation')}
                      </button>
                    </>
                  )}
                </Field>
                <Field label={t('status')}>
                  <StatusBadge status={d.emailStatus} />
                </Field>
                <Field label={t('mailId')}>{d.mailId}</Field>
                <Field label={t('templateId')}>
                  <Dash v={d.templateSid} />
                </Field>
                <Field label={t('templateName')}>
                  <Dash v={d.templateName} />
                </Field>
                <Field label={t('requesterIp')}>
                  <Dash v={d.requesterIp} />
                </Field>
              </dl>
            </section>
            <section aria-labelledby="ml-d-recv">
              <h3 id="ml-d-recv">{t('sectionReceiving')}</h3>
              {recipient ? (
                <dl className="ml-dl">
                  <Field label={t('address')}>{recipient.address}</Field>
                  <Field label={t('received')}>
                    <YesNo v={recipient.received} />
                  </Field>
                  <Field label={t('unsubscribed')}>
                    <YesNo v={recipient.unsubscribed} />
                  </Field>
                  <Field label={t('resultCode')}>
                    <ResultCode code={recipient.sendResultCode} text={recipient.sendResultCodeMessage} />
                  </Field>
                  <Field label={t('retryCount')}>{recipient.retryCount}</Field>
                  <Field label={t('receivedDate')}>{fmtDate(recipient.receivedDate)}</Field>
                  <Field label={t('unsubscribedDate')}>{fmtDate(recipient.unsubscribedDate)}</Field>
                  <Field label={t('bounce')}>
                    {recipient.bounceType ? (
                      <>
                        <FeedbackBadges r={{ ...recipient, complaintType: null }} />
                        {recipient.bounceMessage && <div className="hint">{recipient.bounceMessage}</div>}
                      </>
                    ) : (
                      '-'
                    )}
                  </Field>
                  <Field label={t('bounceDate')}>{fmtDate(recipient.bounceDate)}</Field>
                  <Field label={t('complaint')}>
                    <Dash v={recipient.complaintType} />
                  </Field>
                  <Field label={t('complaintDate')}>{fmtDate(recipient.complaintDate)}</Field>
                </dl>
              ) : (
                <div className="table-wrap">
                  <table className="list">
                    <thead>
                      <tr>
                        <Th>{t('address')}</Th>
                        <Th>{t('recipientType')}</Th>
                        <Th>{t('status')}</Th>
                        <Th>{t('received')}</Th>
                        <Th>{t('receivedDate')}</Th>
                        <Th>{t('resultCode')}</Th>
                        <Th>{t('feedback')}</Th>
                        <Th>{t('retryCount')}</Th>
                      </tr>
                    </thead>
                    <tbody>
                      {d.recipients.map((r) => (
                        <tr key={`${r.type.code}-${r.address}`}>
                          <td>
                            {r.address}
                            {r.name && <div className="hint">{r.name}</div>}
                          </td>
                          <td>{r.type.label}</td>
                          <td>
                            <StatusBadge status={r.status} />
                          </td>
                          <td>
                            <YesNo v={r.received} />
                          </td>
                          <td className="ml-nowrap">{fmtDate(r.receivedDate)}</td>
                          <td>
                            <ResultCode code={r.sendResultCode} text={r.sendResultCodeMessage} />
                          </td>
                          <td>
                            <FeedbackBadges r={r} />
                            {(r.bounceDate || r.complaintDate) && <div className="hint">{fmtDate(r.bounceDate ?? r.complaintDate)}</div>}
                          </td>
                          <td className="ml-num">{r.retryCount}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )}
            </section>
            <section aria-labelledby="ml-d-content">
              <h3 id="ml-d-content">{t('sectionContent')}</h3>
              <dl className="ml-dl">
                <Field label={t('subject')}>{d.title}</Field>
                <Field label={t('content')}>
                  <button type="button" onClick={() => setShowBody((v) => !v)} aria-expanded={showBody}>
                    {showBody ? t('hideContent') : t('viewContent')}
                  </button>
                </Field>
                <Field label={t('attachments')}>
                  {d.attachFiles.length === 0 ? (
                    t('noAttachments')
                  ) : (
                    <ul className="ml-files">
                      {d.attachFiles.map((f) => (
                        <li key={f.fileId}>
                          <a href={`/api/v1/mails/${encodeURIComponent(d.mailId)}/attachments/${encodeURIComponent(f.fileId)}`} download={f.fileName}>
                            {f.fileName}
                          </a>{' '}
                          <span className="hint">({size(f.fileSize)})</span>
                        </li>
                      ))}
                    </ul>
                  )}
                </Field>
              </dl>
              {showBody && (
                <iframe className="mail-body" title={t('contentFrame', { title: d.title })} sandbox="" srcDoc={d.body} referrerPolicy="no-referrer" />
              )}
            </section>
          </>
        )}
      </Dialog>
      {actions.dialog}
    </>
  );
}
