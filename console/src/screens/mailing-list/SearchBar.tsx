import { useQuery } from '@tanstack/react-query';
import { type FormEvent, useEffect, useState } from 'react';
import { emailStatusLabel } from '../../../../src/shared/i18n.ts';
import type { components } from '../../../../src/generated/api.ts';
import { api, unwrap } from '../../api/client.ts';
import { common } from '../../components/messages.ts';
import { useLang, useT } from '../../i18n/i18n.tsx';
import { m } from './messages.ts';
import { datesInOrder, emptySearch, FEEDBACK_FILTERS, type Search, STATUS_CODES } from './search.ts';

type Item = components['schemas']['TemplateStructureItem'];
type Sub = components['schemas']['TemplateStructureSubCategory'];
type Tpl = components['schemas']['TemplateStructureTemplate'];

/** Every template of the tree, with its category path, in the tree's order. */
function flatten(items: (Item | Sub | Tpl)[], path: string[], out: { sid: number; label: string; isUse: boolean }[]) {
  for (const it of items) {
    if (it.isCategory) {
      const sub = it as Item;
      flatten((sub.templates ?? []) as Tpl[], [...path, sub.name], out);
      flatten((sub.subCategoris ?? []) as Sub[], [...path, sub.name], out);
    } else {
      out.push({ sid: it.sid, label: [...path, it.name].join(' / '), isUse: it.isUse });
    }
  }
  return out;
}

export function useTemplates() {
  return useQuery({
    queryKey: ['mailing-list', 'template-picker'],
    queryFn: async () => flatten(unwrap(await api.GET('/template', { params: { query: {} } })).contents, [], []),
  });
}

const FEEDBACK_OPTION = { HARD: 'feedbackHard', SOFT: 'feedbackSoft', ANY: 'feedbackAny', COMPLAINED: 'feedbackComplained' } as const;

/**
 * The guide's search bar: request date range, status, request ID, recipient address, sender
 * address, subject, template and request tool, and (beyond the guide) bounce / complaint; the
 * mail list of one request has its own, smaller bar: status, Mail ID, recipient address,
 * subject, bounce / complaint.
 */
export function SearchBar({ value, onSearch, variant }: { value: Search; onSearch: (s: Search) => void; variant: 'main' | 'mails' }) {
  const t = useT(m);
  const tc = useT(common);
  const { lang } = useLang();
  const [draft, setDraft] = useState<Search>(value);
  const [dateError, setDateError] = useState(false);
  useEffect(() => setDraft(value), [value]);
  const templates = useTemplates();
  const set = (k: keyof Search) => (e: { target: { value: string } }) => setDraft((d) => ({ ...d, [k]: e.target.value }));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!datesInOrder(draft)) {
      setDateError(true);
      return;
    }
    setDateError(false);
    onSearch(draft);
  };
  const reset = () => {
    setDateError(false);
    const base = emptySearch();
    setDraft(base);
    onSearch(base);
  };
  const status = (
    <label>
      {t('status')}
      <select value={draft.sendStatus} onChange={set('sendStatus')}>
        <option value="">{t('all')}</option>
        {STATUS_CODES.map((c) => (
          <option key={c} value={c}>
            {emailStatusLabel(c, lang).label}
          </option>
        ))}
      </select>
    </label>
  );
  const recipient = (
    <label>
      {t('recipientAddress')}
      <input type="search" value={draft.recipientAddress} onChange={set('recipientAddress')} autoComplete="off" />
    </label>
  );
  const subject = (
    <label>
      {t('subject')}
      <input type="search" value={draft.title} onChange={set('title')} autoComplete="off" />
    </label>
  );
  return (
    <search aria-label={t('searchBar')}>
      <form className="card ml-search" onSubmit={submit}>
        <div className="search-grid">
          {variant === 'main' && (
            <fieldset className="ml-dates">
              <legend>{t('requestDate')}</legend>
              <label>
                {t('dateFrom')}
                <input
                  type="date"
                  value={draft.from}
                  onChange={set('from')}
                  required
                  aria-invalid={dateError || undefined}
                  aria-describedby={dateError ? 'ml-date-error' : undefined}
                />
              </label>
              <label>
                {t('dateTo')}
                <input type="date" value={draft.to} onChange={set('to')} required aria-invalid={dateError || undefined} />
              </label>
              {dateError && (
                <span id="ml-date-error" className="field-error" role="alert">
                  {t('dateOrder')}
                </span>
              )}
            </fieldset>
          )}
          {status}
          {variant === 'main' ? (
            <label>
              {t('requestId')}
              <input type="search" value={draft.requestId} onChange={set('requestId')} autoComplete="off" inputMode="numeric" />
            </label>
          ) : (
            <label>
              {t('mailId')}
              <input type="search" value={draft.mailId} onChange={set('mailId')} autoComplete="off" inputMode="numeric" />
            </label>
          )}
          {recipient}
          {variant === 'main' && (
            <label>
              {t('senderAddress')}
              <input type="search" value={draft.senderAddress} onChange={set('senderAddress')} autoComplete="off" />
            </label>
          )}
          {subject}
          {variant === 'main' && (
            <label>
              {t('template')}
              <select value={draft.templateSid} onChange={set('templateSid')}>
                <option value="">{t('all')}</option>
                {templates.data?.map((tp) => (
                  <option key={tp.sid} value={String(tp.sid)}>
                    {tp.isUse ? tp.label : t('deletedTemplate', { name: tp.label })}
                  </option>
                ))}
                {draft.templateSid && !templates.data?.some((tp) => String(tp.sid) === draft.templateSid) && (
                  <option value={draft.templateSid}>{draft.templateSid}</option>
                )}
              </select>
            </label>
          )}
          <label>
            {t('feedback')}
            <select value={draft.feedback} onChange={set('feedback')}>
              <option value="">{t('feedbackAll')}</option>
              {FEEDBACK_FILTERS.map((f) => (
                <option key={f} value={f}>
                  {t(FEEDBACK_OPTION[f])}
                </option>
              ))}
            </select>
          </label>
          {variant === 'main' && (
            <label>
              {t('dispatchType')}
              <select value={draft.dispatchType} onChange={set('dispatchType')}>
                <option value="">{t('all')}</option>
                <option value="API">API</option>
                <option value="CONSOLE">CONSOLE</option>
              </select>
            </label>
          )}
        </div>
        <div className="toolbar ml-search-actions">
          <button type="submit" className="primary">
            {tc('search')}
          </button>
          <button type="button" onClick={reset}>
            {tc('reset')}
          </button>
        </div>
      </form>
    </search>
  );
}
