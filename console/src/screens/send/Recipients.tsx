import { useQuery } from '@tanstack/react-query';
import { useId, useRef, useState } from 'react';
import { api, ApiError, unwrap } from '../../api/client.ts';
import { common } from '../../components/messages.ts';
import { useT } from '../../i18n/i18n.tsx';
import type { components } from '../../../../src/generated/api.ts';
import { AddressInput } from './AddressInput.tsx';
import { LIMITS } from './compose.ts';
import { m } from './messages.ts';

export type BulkMode = 'individual' | 'general' | 'file' | 'group';
export type RecipientFile = components['schemas']['RecipientFile'] & { fileName: string };

export interface RecipientsState {
  mode: BulkMode;
  individual: string[];
  to: string[];
  cc: string[];
  bcc: string[];
  file: RecipientFile | null;
  groups: string[];
  andFilter: boolean;
}

export const emptyRecipients: RecipientsState = { mode: 'individual', individual: [], to: [], cc: [], bcc: [], file: null, groups: [], andFilter: false };

const MODES = [
  ['individual', 'modeIndividual'],
  ['general', 'modeGeneral'],
  ['file', 'modeFile'],
  ['group', 'modeGroup'],
] as const;

export function Recipients({
  value,
  onChange,
  advertising,
  tags,
  errors,
}: {
  value: RecipientsState;
  onChange: (update: (prev: RecipientsState) => RecipientsState) => void;
  advertising: boolean;
  tags: string[];
  errors: Record<string, string | undefined>;
}) {
  const t = useT(m);
  const set = (patch: Partial<RecipientsState>) => onChange((prev) => ({ ...prev, ...patch }));
  const recipientsError = errors.recipients;
  const errorId = useId();
  return (
    <fieldset className="send-recipients">
      <legend>{t('bulkMode')}</legend>
      <div className="send-modes" role="radiogroup" aria-label={t('bulkMode')}>
        {MODES.map(([mode, key]) => {
          const disabled = mode === 'general' && advertising;
          return (
            <label key={mode} className="send-radio">
              <input type="radio" name="bulkMode" value={mode} checked={value.mode === mode} disabled={disabled} onChange={() => set({ mode })} />
              {t(key)}
            </label>
          );
        })}
      </div>
      {advertising && <p className="hint">{t('modeGeneralAdDisabled')}</p>}

      {value.mode === 'individual' && (
        <>
          <p className="hint">{t('modeIndividualHint', { max: LIMITS.individual.toLocaleString() })}</p>
          <AddressInput
            name="recipients"
            label={t('recipients')}
            max={LIMITS.individual}
            value={value.individual}
            onChange={(individual) => set({ individual })}
            error={recipientsError}
          />
        </>
      )}
      {value.mode === 'general' && (
        <>
          <p className="hint">{t('modeGeneralHint')}</p>
          <AddressInput name="to" label={t('to')} max={LIMITS.to} value={value.to} onChange={(to) => set({ to })} error={recipientsError} />
          <AddressInput name="cc" label={t('cc')} max={LIMITS.cc} value={value.cc} onChange={(cc) => set({ cc })} />
          <AddressInput name="bcc" label={t('bcc')} max={LIMITS.bcc} value={value.bcc} onChange={(bcc) => set({ bcc })} />
        </>
      )}
      {value.mode === 'file' && <FilePanel value={value.file} onChange={(file) => set({ file })} tags={tags} error={errors.recipientFile ?? recipientsError} />}
      {value.mode === 'group' && (
        <GroupPanel
          groups={value.groups}
          andFilter={value.andFilter}
          onChange={(patch) => set(patch)}
          error={errors.groups ?? recipientsError}
          errorId={errorId}
        />
      )}
    </fieldset>
  );
}

function FilePanel({
  value,
  onChange,
  tags,
  error,
}: {
  value: RecipientFile | null;
  onChange: (f: RecipientFile | null) => void;
  tags: string[];
  error?: string;
}) {
  const t = useT(m);
  const inputRef = useRef<HTMLInputElement>(null);
  const [busy, setBusy] = useState(false);
  const [uploadError, setUploadError] = useState('');
  const errorId = useId();
  const formHref = `/api/v1/recipient-files/form${tags.length ? `?${tags.map((tag) => `tags=${encodeURIComponent(tag)}`).join('&')}` : ''}`;

  const choose = async (file: File | undefined) => {
    if (!file) return;
    setBusy(true);
    setUploadError('');
    onChange(null);
    try {
      const fd = new FormData();
      fd.append('file', file, file.name);
      const res = unwrap(await api.POST('/recipient-files', { body: fd as never, bodySerializer: (b: unknown) => b as FormData }));
      onChange({ ...res, fileName: file.name });
    } catch (err) {
      setUploadError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  const shownError = uploadError || error;
  return (
    <div className="send-file-panel">
      <p className="hint">{t('modeFileHint')}</p>
      <p>
        <a href={formHref} download>
          {t('formDownload')}
        </a>{' '}
        <span className="hint">{tags.length ? t('formDownloadHint', { tags: tags.map((x) => `\${${x}}`).join(', ') }) : t('formDownloadNoTags')}</span>
      </p>
      <div className="row">
        <button type="button" onClick={() => inputRef.current?.click()} aria-describedby={shownError ? errorId : undefined} disabled={busy}>
          {t('fileChoose')}
        </button>
        <input
          ref={inputRef}
          type="file"
          hidden
          accept=".xlsx,.csv"
          aria-label={t('fileChoose')}
          data-testid="recipient-file-input"
          onChange={(e) => {
            void choose(e.target.files?.[0]);
            e.target.value = '';
          }}
        />
        {busy && <span role="status">{t('fileUploading')}</span>}
      </div>
      {shownError && (
        <p id={errorId} className="field-error" role="alert">
          {shownError}
        </p>
      )}
      {value && (
        <div className="send-file-result" role="status">
          <p>{t('fileChosen', { name: value.fileName, rows: value.rowCount.toLocaleString(), valid: value.validCount.toLocaleString() })}</p>
          {value.tags.length > 0 && <p className="hint">{t('fileTags', { tags: value.tags.map((x) => `\${${x}}`).join(', ') })}</p>}
          {value.errors.length > 0 && (
            <div className="table-wrap send-file-errors">
              <table className="list">
                <caption>{t('fileErrors', { n: value.errors.length.toLocaleString() })}</caption>
                <thead>
                  <tr>
                    <th scope="col">{t('fileRow')}</th>
                    <th scope="col">{t('fileReason')}</th>
                  </tr>
                </thead>
                <tbody>
                  {value.errors.slice(0, 200).map((e) => (
                    <tr key={e.row}>
                      <td>{e.row}</td>
                      <td>{e.reason}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      )}
    </div>
  );
}

function GroupPanel({
  groups,
  andFilter,
  onChange,
  error,
  errorId,
}: {
  groups: string[];
  andFilter: boolean;
  onChange: (patch: Partial<RecipientsState>) => void;
  error?: string;
  errorId: string;
}) {
  const t = useT(m);
  const tc = useT(common);
  const book = useQuery({ queryKey: ['address-book'], queryFn: async () => unwrap(await api.GET('/address-book')) });
  const toggle = (name: string, on: boolean) => onChange({ groups: on ? [...groups, name] : groups.filter((g) => g !== name) });
  const href = `/api/v1/address-book/combination?andFilter=${andFilter}&${groups.map((g) => `groups=${encodeURIComponent(g)}`).join('&')}`;
  return (
    <div className="send-group-panel">
      <p className="hint">{t('modeGroupHint')}</p>
      <fieldset aria-describedby={error ? errorId : undefined}>
        <legend>{t('groupSelect')}</legend>
        <p className="hint">{t('groupSelectHint', { max: LIMITS.groups })}</p>
        {book.isPending && <p>{tc('loading')}</p>}
        {book.error && <p className="error">{book.error.message}</p>}
        {book.data && book.data.groups.length === 0 && <p>{t('groupNone')}</p>}
        <div className="send-groups">
          {book.data?.groups.map((g) => {
            const checked = groups.includes(g.groupName);
            return (
              <label key={g.sid} className="send-check">
                <input
                  type="checkbox"
                  checked={checked}
                  disabled={!checked && groups.length >= LIMITS.groups}
                  onChange={(e) => toggle(g.groupName, e.target.checked)}
                />
                {t('groupCount', { name: g.groupName, n: g.addressCount.toLocaleString() })}
              </label>
            );
          })}
        </div>
      </fieldset>
      <fieldset>
        <legend>{t('combination')}</legend>
        <label className="send-radio">
          <input type="radio" name="andFilter" checked={andFilter} onChange={() => onChange({ andFilter: true })} />
          {t('combinationAnd')}
        </label>
        <label className="send-radio">
          <input type="radio" name="andFilter" checked={!andFilter} onChange={() => onChange({ andFilter: false })} />
          {t('combinationOr')}
        </label>
      </fieldset>
      {groups.length > 0 && (
        <p>
          <a href={href} download>
            {t('combinationDownload')}
          </a>
        </p>
      )}
      {error && (
        <p id={errorId} className="field-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
