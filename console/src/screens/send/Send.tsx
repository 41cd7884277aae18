import './send.css';
import { type FormEvent, type ReactNode, useEffect, useId, useRef, useState } from 'react';
import { api, ApiError, unwrap } from '../../api/client.ts';
import { useSession } from '../../api/session.ts';
import { common } from '../../components/messages.ts';
import { useT } from '../../i18n/i18n.tsx';
import { Link } from '../../router.tsx';
import type { components } from '../../../../src/generated/api.ts';
import { type Attachment, Attachments } from './Attachments.tsx';
import { BodyEditor, type BodyState, bodyForApi } from './BodyEditor.tsx';
import { collectMetaTags, collectTags, formFieldOf, isEmail, LIMITS, localToUtc, reservationProblem, utcToLocalInput } from './compose.ts';
import { Dialog } from '../../components/Dialog.tsx';
import { m } from './messages.ts';
import { emptyRecipients, Recipients, type RecipientsState } from './Recipients.tsx';
import { TemplatePicker } from './TemplatePicker.tsx';

type MailRequest = components['schemas']['MailRequest'] & { testMail?: boolean };

/** How the user asked to send: now (or at the reservation), after confirmation, or a test to one address. */
type SendAction = { kind: 'send' } | { kind: 'confirm' } | { kind: 'test'; address: string };

/** The basic unsubscribe notice as the service writes it (src/modules/unsubscribes), in the prefix's language. */
const BASIC_NOTICE = {
  ko: ['본 메일은 수신에 동의하신 분께 보내는 광고 메일입니다. 더 이상 받기를 원하지 않으시면 ', '수신거부', '를 눌러 주세요.'],
  ja: ['本メールは受信に同意いただいた方にお送りしている広告メールです。今後の受信を希望されない場合は', '受信拒否', 'をクリックしてください。'],
  en: ['You receive this advertising mail because you agreed to receive it. If you no longer wish to receive it, ', 'unsubscribe', '.'],
} as const;
function noticeLang(prefix: string): keyof typeof BASIC_NOTICE {
  if (/[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]/.test(prefix)) return 'ko';
  if (/[\u3040-\u30ff]|広告/.test(prefix)) return 'ja';
  return 'en';
}

interface Sent {
  requestId: string;
  count: number;
  action: SendAction;
  reservedAt?: string;
}

export default function Send() {
  const t = useT(m);
  const tc = useT(common);
  // The service's AD_TITLE_PREFIX, which the session carries.
  const adPrefix = useSession().adTitlePrefix;
  const ids = {
    template: useId(),
    senderName: useId(),
    senderAddress: useId(),
    title: useId(),
    body: useId(),
    attach: useId(),
    reservation: useId(),
    unsubscribe: useId(),
    form: useId(),
  };

  // template
  const [useTemplate, setUseTemplate] = useState(false);
  const [template, setTemplate] = useState<{ sid: number; name: string } | null>(null);
  const [templateNotice, setTemplateNotice] = useState('');
  // mail type
  const [advertising, setAdvertising] = useState(false);
  const [basicNotice, setBasicNotice] = useState(true);
  const [customNotice, setCustomNotice] = useState('');
  const [adNotes, setAdNotes] = useState(false);
  // sender, subject, body
  const [senderName, setSenderName] = useState('');
  const [senderAddress, setSenderAddress] = useState('');
  const [title, setTitle] = useState('');
  const [body, setBody] = useState<BodyState>({ format: 'editor', html: '', text: '', version: 0 });
  const [attachments, setAttachments] = useState<Attachment[]>([]);
  const [recipients, setRecipients] = useState<RecipientsState>(emptyRecipients);
  // reservation
  const [reserve, setReserve] = useState(false);
  const [reserveAt, setReserveAt] = useState('');
  // sending
  const [errors, setErrors] = useState<Record<string, string | undefined>>({});
  const [formError, setFormError] = useState('');
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState<Sent | null>(null);
  const [tagPrompt, setTagPrompt] = useState<{ action: SendAction; tags: string[] } | null>(null);
  const [tagValues, setTagValues] = useState<Record<string, string>>({});
  const [testOpen, setTestOpen] = useState(false);
  const [focusError, setFocusError] = useState(0);
  const formRef = useRef<HTMLFormElement>(null);

  const locked = useTemplate && template !== null;
  const bodyHtml = bodyForApi(body);
  const tags = collectTags(title, bodyHtml);
  const uploading = attachments.some((a) => a.status === 'uploading');

  // General mode can't be advertising mail (the guide).
  useEffect(() => {
    if (advertising && recipients.mode === 'general') setRecipients((r) => ({ ...r, mode: 'individual' }));
  }, [advertising, recipients.mode]);

  // After a failed check, the first field with an error gets the focus.
  useEffect(() => {
    if (!focusError) return;
    const el = formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]');
    el?.focus();
  }, [focusError]);

  const importTemplate = async (sid: number) => {
    setErrors((e) => ({ ...e, templateSid: undefined }));
    try {
      const tpl = unwrap(await api.GET('/template/{templateSid}', { params: { path: { templateSid: String(sid) } } }));
      setTemplate({ sid: tpl.sid, name: tpl.name });
      setSenderName(tpl.senderName ?? '');
      setSenderAddress(tpl.senderAddress);
      setTitle(tpl.title);
      setBody((b) => ({ format: 'html', html: tpl.body, text: '', version: b.version + 1 }));
      setTemplateNotice(t('templateImported', { name: tpl.name }));
    } catch (err) {
      setErrors((e) => ({ ...e, templateSid: err instanceof ApiError ? err.message : String(err) }));
    }
  };

  const onUseTemplate = (on: boolean) => {
    setUseTemplate(on);
    // Turning the template off keeps what it filled in, now editable (the guide).
    if (!on) setTemplate(null);
    setTemplateNotice('');
  };

  /** The form's own checks, before anything is sent. */
  const check = (action: SendAction): Record<string, string> => {
    const e: Record<string, string> = {};
    if (useTemplate && !template) e.templateSid = t('templateNone');
    if (!locked) {
      if (!senderAddress.trim()) e.senderAddress = t('required');
      else if (!isEmail(senderAddress.trim())) e.senderAddress = t('invalidAddress', { list: senderAddress.trim() });
      if (!title.trim()) e.title = t('required');
      if (!bodyHtml.replace(/<[^>]*>|&nbsp;|\s/g, '')) e.body = t('bodyRequired');
    }
    if (advertising && !basicNotice && !customNotice.trim()) e.unsubscribeMessage = t('required');
    if (action.kind === 'test') return e;
    const r = recipients;
    if (r.mode === 'individual' && r.individual.length === 0) e.recipients = t('recipientsRequired');
    if (r.mode === 'general') {
      if (r.to.length === 0) e.recipients = t('recipientsRequired');
      const meta = collectMetaTags(title, bodyHtml);
      if (meta.length) e.body = t('metaTagsGeneral', { tags: meta.map((x) => `#{${x}}`).join(', ') });
    }
    if (r.mode === 'file' && !r.file) e.recipientFile = t('fileRequired');
    if (r.mode === 'group' && r.groups.length === 0) e.groups = t('groupsRequired');
    if (reserve) {
      const p = reservationProblem(reserveAt, Date.now());
      if (p) e.reservation = p === 'required' ? t('reserveRequired') : p === 'past' ? t('reservePast') : t('reserveTooFar', { days: LIMITS.reservationDays });
    }
    return e;
  };

  /** The tags the user must give values for: those of the subject and body, less a recipient file's columns. */
  const tagsToAsk = (action: SendAction) =>
    action.kind !== 'test' && recipients.mode === 'file' && recipients.file ? tags.filter((x) => !recipients.file!.tags.includes(x)) : tags;

  const start = (action: SendAction) => {
    setSent(null);
    setFormError('');
    const e = check(action);
    setErrors(e);
    if (Object.keys(e).length > 0) {
      setFormError(t('fixErrors'));
      setFocusError((n) => n + 1);
      return;
    }
    const ask = tagsToAsk(action);
    if (ask.length > 0) {
      setTagValues((v) => Object.fromEntries(ask.map((x) => [x, v[x] ?? ''])));
      setTagPrompt({ action, tags: ask });
      return;
    }
    void submit(action, {});
  };

  const buildRequest = (action: SendAction, parameters: Record<string, string>): MailRequest => {
    const req: MailRequest = {
      senderName: senderName.trim() || null,
      senderAddress: senderAddress.trim(),
      title,
      body: bodyHtml,
      advertising,
      individual: true,
      confirmAndSend: action.kind === 'confirm',
      attachFileIds: attachments.flatMap((a) => (a.fileId ? [a.fileId] : [])),
    };
    if (locked) req.templateSid = template!.sid;
    if (Object.keys(parameters).length) req.parameters = parameters;
    if (advertising) {
      req.useBasicUnsubscribeMsg = basicNotice;
      if (!basicNotice) req.unsubscribeMessage = customNotice;
    }
    if (action.kind === 'test') {
      req.testMail = true;
      req.recipients = [{ address: action.address, type: 'R' }];
      return req;
    }
    if (reserve) req.reservationUtc = localToUtc(reserveAt) ?? null;
    const r = recipients;
    if (r.mode === 'individual') req.recipients = r.individual.map((address) => ({ address, type: 'R' }));
    else if (r.mode === 'general') {
      req.individual = false;
      req.recipients = [
        ...r.to.map((address) => ({ address, type: 'R' as const })),
        ...r.cc.map((address) => ({ address, type: 'C' as const })),
        ...r.bcc.map((address) => ({ address, type: 'B' as const })),
      ];
    } else if (r.mode === 'file') req.recipientFileId = r.file!.recipientFileId;
    else req.recipientGroupFilter = { andFilter: r.andFilter, groups: r.groups };
    return req;
  };

  const submit = async (action: SendAction, parameters: Record<string, string>) => {
    setBusy(true);
    setFormError('');
    try {
      const res = unwrap(await api.POST('/mails', { body: buildRequest(action, parameters) }));
      setSent({ requestId: res.requestId, count: res.count, action, reservedAt: reserve && action.kind !== 'test' ? reserveAt.replace('T', ' ') : undefined });
      setErrors({});
    } catch (err) {
      if (err instanceof ApiError) {
        const field = formFieldOf(err.field);
        const shown = field && field in FIELD_NAMES ? field : undefined;
        if (shown) {
          setErrors({ [shown]: err.message });
          setFocusError((n) => n + 1);
        } else setFormError(err.message);
      } else setFormError(String(err));
    } finally {
      setBusy(false);
    }
  };

  const onSubmit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const submitter = (e.nativeEvent as SubmitEvent).submitter as HTMLButtonElement | null;
    start(submitter?.value === 'confirm' ? { kind: 'confirm' } : { kind: 'send' });
  };

  const err = (name: string) => errors[name];
  const invalid = (name: string) => (errors[name] ? true : undefined);
  const describedBy = (name: string, id: string, hint?: string) => [hint, errors[name] ? id : ''].filter(Boolean).join(' ') || undefined;
  const now = Date.now();
  const notice = BASIC_NOTICE[noticeLang(adPrefix)];

  return (
    <div className="send-screen">
      <div className="toolbar">
        <h1>{t('title')}</h1>
        <span className="spacer" />
        <Link to="/mails">{t('backToList')}</Link>
      </div>
      <form
        ref={formRef}
        className="form-grid send-form"
        onSubmit={onSubmit}
        onKeyDown={(e) => {
          // Enter in a text field does not send the mail: sending is the [送信] button's.
          const target = e.target as HTMLElement;
          // (Dialogs are portals: their keys reach here through React, but they are not inside the form.)
          const inForm = formRef.current?.contains(target);
          if (e.key === 'Enter' && inForm && target instanceof HTMLInputElement && target.type !== 'checkbox' && target.type !== 'radio') e.preventDefault();
        }}
        noValidate
        aria-describedby={formError ? ids.form : undefined}
      >
        <TemplatePicker
          use={useTemplate}
          onUse={onUseTemplate}
          sid={template?.sid ?? null}
          onImport={importTemplate}
          error={err('templateSid')}
          errorId={ids.template}
        />
        {templateNotice && (
          <p className="hint" role="status">
            {templateNotice} {locked && t('templateLocked')}
          </p>
        )}

        <fieldset className="send-type">
          <legend>{t('mailType')}</legend>
          <div className="row">
            <label className="send-radio">
              <input type="radio" name="mailType" value="general" checked={!advertising} onChange={() => setAdvertising(false)} />
              {t('mailTypeGeneral')}
            </label>
            <label className="send-radio">
              <input
                type="radio"
                name="mailType"
                value="ad"
                checked={advertising}
                onChange={() => {
                  setAdvertising(true);
                  // advertising mail can't be general mail (the guide)
                  setRecipients((r) => (r.mode === 'general' ? { ...r, mode: 'individual' } : r));
                }}
              />
              {t('mailTypeAd')}
            </label>
            <button type="button" onClick={() => setAdNotes(true)}>
              {t('adNotesButton')}
            </button>
          </div>
          {advertising && (
            <div className="send-ad">
              <fieldset>
                <legend>{t('unsubscribeNotice')}</legend>
                <div className="row">
                  <label className="send-radio">
                    <input type="radio" name="unsubscribeNotice" checked={basicNotice} onChange={() => setBasicNotice(true)} />
                    {t('unsubscribeBasic')}
                  </label>
                  <label className="send-radio">
                    <input type="radio" name="unsubscribeNotice" checked={!basicNotice} onChange={() => setBasicNotice(false)} />
                    {t('unsubscribeCustom')}
                  </label>
                </div>
                {basicNotice ? (
                  <figure className="send-notice" data-testid="unsubscribe-notice">
                    <figcaption className="hint">{t('unsubscribeBasicPreview')}</figcaption>
                    <p lang={noticeLang(adPrefix)}>
                      {notice[0]}
                      <span className="send-fake-link">{notice[1]}</span>
                      {notice[2]}
                    </p>
                  </figure>
                ) : (
                  <Field
                    label={t('unsubscribeCustomLabel')}
                    id={`${ids.unsubscribe}-input`}
                    hint={t('unsubscribeCustomHint')}
                    error={err('unsubscribeMessage')}
                  >
                    {(a) => <textarea {...a} rows={4} value={customNotice} onChange={(e) => setCustomNotice(e.target.value)} />}
                  </Field>
                )}
              </fieldset>
            </div>
          )}
        </fieldset>

        <fieldset className="send-sender">
          <legend>{t('senderSection')}</legend>
          <div className="row">
            <Field label={t('senderName')} id={ids.senderName} error={err('senderName')} className="send-grow">
              {(a) => (
                <input {...a} name="senderName" value={senderName} readOnly={locked} autoComplete="off" onChange={(e) => setSenderName(e.target.value)} />
              )}
            </Field>
            <Field label={t('senderAddress')} id={ids.senderAddress} error={err('senderAddress')} className="send-grow">
              {(a) => (
                <input
                  {...a}
                  name="senderAddress"
                  type="email"
                  value={senderAddress}
                  readOnly={locked}
                  autoComplete="email"
                  required
                  onChange={(e) => setSenderAddress(e.target.value)}
                />
              )}
            </Field>
          </div>
          <Field label={t('subject')} id={ids.title} hint={t('subjectHint')} error={err('title')}>
            {(a) => <input {...a} name="title" value={title} readOnly={locked} required autoComplete="off" onChange={(e) => setTitle(e.target.value)} />}
          </Field>
          {advertising && (
            <p className="send-ad-preview" data-testid="ad-title-preview">
              <span className="hint">{t('adTitlePreview')}: </span>
              <output>
                {title.startsWith(adPrefix) ? '' : adPrefix}
                {title}
              </output>
            </p>
          )}
        </fieldset>

        <Attachments value={attachments} onChange={setAttachments} error={err('attachFileIds')} errorId={ids.attach} />

        <BodyEditor value={body} onChange={setBody} locked={locked} error={err('body')} errorId={ids.body} />

        <Recipients value={recipients} onChange={setRecipients} advertising={advertising} tags={tags} errors={errors} />

        <fieldset className="send-reservation">
          <legend>{t('reservation')}</legend>
          <div className="row">
            <label className="send-check">
              <input
                type="checkbox"
                checked={reserve}
                onChange={(e) => {
                  setReserve(e.target.checked);
                  if (e.target.checked && !reserveAt) setReserveAt(utcToLocalInput(Date.now() + 3600_000));
                }}
              />
              {t('reserve')}
            </label>
            {reserve && (
              <label>
                {t('reserveAt')}
                <input
                  type="datetime-local"
                  name="reservation"
                  value={reserveAt}
                  min={utcToLocalInput(now)}
                  max={utcToLocalInput(now + LIMITS.reservationDays * 86_400_000)}
                  onChange={(e) => setReserveAt(e.target.value)}
                  aria-invalid={invalid('reservation')}
                  aria-describedby={describedBy('reservation', ids.reservation, `${ids.reservation}-hint`)}
                />
              </label>
            )}
          </div>
          <p id={`${ids.reservation}-hint`} className="hint">
            {t('reserveHint', { days: LIMITS.reservationDays })}
          </p>
          {err('reservation') && (
            <p id={ids.reservation} className="field-error" role="alert">
              {err('reservation')}
            </p>
          )}
        </fieldset>

        {formError && (
          <p id={ids.form} className="error" role="alert">
            {formError}
            {err('parameters') ? ` ${err('parameters')}` : ''}
          </p>
        )}
        {sent && (
          <div className="send-done" role="status">
            <p>
              {sent.action.kind === 'test'
                ? t('sentTest', { address: sent.action.address, requestId: sent.requestId })
                : sent.action.kind === 'confirm'
                  ? t('sentConfirm', { requestId: sent.requestId, count: sent.count })
                  : sent.reservedAt
                    ? t('sentReserved', { at: sent.reservedAt, requestId: sent.requestId, count: sent.count })
                    : t('sent', { requestId: sent.requestId, count: sent.count })}
            </p>
            <Link to={`/mails?requestId=${encodeURIComponent(sent.requestId)}`}>{t('openList')}</Link>
          </div>
        )}
        <div className="send-actions">
          <button type="submit" className="primary" value="send" disabled={busy || uploading}>
            {busy ? t('sending') : t('send')}
          </button>
          <button type="submit" value="confirm" disabled={busy || uploading}>
            {t('sendAfterConfirm')}
          </button>
          <button type="button" onClick={() => setTestOpen(true)} disabled={busy || uploading}>
            {t('testSend')}
          </button>
        </div>
      </form>

      {adNotes && (
        <Dialog title={t('adNotesTitle')} onClose={() => setAdNotes(false)}>
          <ul>
            <li>{t('adNote1', { prefix: adPrefix })}</li>
            <li>{t('adNote2')}</li>
            <li>{t('adNote3')}</li>
            <li>{t('adNote4')}</li>
            <li>{t('adNote5')}</li>
          </ul>
          <div className="dialog-actions">
            <button type="button" onClick={() => setAdNotes(false)}>
              {tc('close')}
            </button>
          </div>
        </Dialog>
      )}

      {testOpen && (
        <TestSendDialog
          onClose={() => setTestOpen(false)}
          onSend={(address) => {
            setTestOpen(false);
            start({ kind: 'test', address });
          }}
        />
      )}

      {tagPrompt && (
        <Dialog title={t('tagDialogTitle')} onClose={() => setTagPrompt(null)}>
          <TagForm
            tags={tagPrompt.tags}
            values={tagValues}
            onValues={setTagValues}
            fileMode={tagPrompt.action.kind !== 'test' && recipients.mode === 'file'}
            onCancel={() => setTagPrompt(null)}
            onConfirm={() => {
              const action = tagPrompt.action;
              setTagPrompt(null);
              void submit(action, Object.fromEntries(tagPrompt.tags.map((x) => [x, tagValues[x] ?? ''])));
            }}
          />
        </Dialog>
      )}
    </div>
  );
}

/**
 * A labelled field with its hint and its error right below it (the error of the form's own checks
 * or the API's, ApiError.field): the input is described by both and marked invalid.
 */
function Field({
  label,
  id,
  hint,
  error,
  className,
  children,
}: {
  label: string;
  id: string;
  hint?: string;
  error?: string;
  className?: string;
  children: (a: { id: string; 'aria-invalid': true | undefined; 'aria-describedby': string | undefined }) => ReactNode;
}) {
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const describedBy = [hint ? hintId : '', error ? errorId : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`send-field${className ? ` ${className}` : ''}`}>
      <label htmlFor={id}>{label}</label>
      {children({ id, 'aria-invalid': error ? true : undefined, 'aria-describedby': describedBy })}
      {hint && (
        <span id={hintId} className="hint">
          {hint}
        </span>
      )}
      {error && (
        <span id={errorId} className="field-error" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}

/** Form fields an API error can be shown next to (ApiError.field, mapped by formFieldOf). */
const FIELD_NAMES = {
  templateSid: 1,
  senderName: 1,
  senderAddress: 1,
  title: 1,
  body: 1,
  attachFileIds: 1,
  recipients: 1,
  recipientFile: 1,
  groups: 1,
  reservation: 1,
  unsubscribeMessage: 1,
} as const;

/** The tag input popup: [確認] stays disabled until every tag has a value. */
function TagForm({
  tags,
  values,
  onValues,
  fileMode,
  onCancel,
  onConfirm,
}: {
  tags: string[];
  values: Record<string, string>;
  onValues: (update: (v: Record<string, string>) => Record<string, string>) => void;
  fileMode: boolean;
  onCancel: () => void;
  onConfirm: () => void;
}) {
  const t = useT(m);
  const tc = useT(common);
  const missing = tags.filter((x) => !(values[x] ?? '').trim()).length;
  const statusId = useId();
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        if (missing === 0) onConfirm();
      }}
    >
      <p>{fileMode ? t('tagDialogFileLead') : t('tagDialogLead')}</p>
      <div className="form-grid send-tags">
        {tags.map((tag, i) => (
          <label key={tag}>
            {t('tagValue', { name: tag })}
            <input
              // biome-ignore lint/a11y/noAutofocus: the popup's first field takes the focus
              autoFocus={i === 0}
              value={values[tag] ?? ''}
              required
              onChange={(e) => onValues((v) => ({ ...v, [tag]: e.target.value }))}
            />
          </label>
        ))}
      </div>
      <p id={statusId} className="hint" aria-live="polite">
        {missing > 0 ? t('tagMissing', { n: missing }) : ''}
      </p>
      <div className="dialog-actions">
        <button type="button" onClick={onCancel}>
          {tc('cancel')}
        </button>
        <button type="submit" className="primary" disabled={missing > 0} aria-describedby={statusId}>
          {tc('confirm')}
        </button>
      </div>
    </form>
  );
}

function TestSendDialog({ onClose, onSend }: { onClose: () => void; onSend: (address: string) => void }) {
  const t = useT(m);
  const tc = useT(common);
  const [address, setAddress] = useState('');
  const [error, setError] = useState('');
  const errorId = useId();
  return (
    <Dialog title={t('testDialogTitle')} onClose={onClose}>
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          const a = address.trim();
          if (!isEmail(a)) {
            setError(a ? t('invalidAddress', { list: a }) : t('required'));
            return;
          }
          onSend(a);
        }}
      >
        <p>{t('testDialogLead')}</p>
        <Field label={t('testAddress')} id={errorId} error={error}>
          {(a) => <input {...a} type="email" autoFocus value={address} onChange={(e) => setAddress(e.target.value)} />}
        </Field>
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>
            {tc('cancel')}
          </button>
          <button type="submit" className="primary">
            {t('testSubmit')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
