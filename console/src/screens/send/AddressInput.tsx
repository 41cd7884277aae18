import { type KeyboardEvent, useId, useState } from 'react';
import { common } from '../../components/messages.ts';
import { useT } from '../../i18n/i18n.tsx';
import { isEmail, splitAddresses } from './compose.ts';
import { Dialog } from '../../components/Dialog.tsx';
import { m } from './messages.ts';

/** Merges typed addresses into a list: invalid ones, duplicates and those over the limit are reported. */
export function mergeAddresses(list: string[], typed: string[], max: number) {
  const have = new Set(list.map((a) => a.toLowerCase()));
  const invalid: string[] = [];
  let duplicates = 0;
  let over = 0;
  const next = [...list];
  for (const a of typed) {
    if (!isEmail(a)) invalid.push(a);
    else if (have.has(a.toLowerCase())) duplicates++;
    else if (next.length >= max) over++;
    else {
      have.add(a.toLowerCase());
      next.push(a);
    }
  }
  return { next, invalid, duplicates, over };
}

/**
 * A list of addresses: type one and press Enter, Tab, Space or `;` to add it; [大量入力] takes
 * many at once, split on Tab, space, line breaks and `;`. At most `max`.
 */
export function AddressInput({
  label,
  max,
  value,
  onChange,
  error,
  name,
}: {
  label: string;
  max: number;
  value: string[];
  onChange: (v: string[]) => void;
  error?: string;
  name: string;
}) {
  const t = useT(m);
  const tc = useT(common);
  const [draft, setDraft] = useState('');
  const [notice, setNotice] = useState('');
  const [bulk, setBulk] = useState<string | null>(null);
  const inputId = useId();
  const hintId = useId();
  const noticeId = useId();
  const errorId = useId();

  const add = (text: string) => {
    const typed = splitAddresses(text);
    if (typed.length === 0) return true;
    const r = mergeAddresses(value, typed, max);
    const notes = [
      r.invalid.length ? t('invalidAddress', { list: r.invalid.join(', ') }) : '',
      r.over ? t('tooManyAddresses', { label, max: max.toLocaleString(), n: r.over }) : '',
      r.duplicates ? t('duplicateSkipped', { n: r.duplicates }) : '',
    ].filter(Boolean);
    setNotice(notes.join(' '));
    if (r.next.length !== value.length) onChange(r.next);
    // Invalid addresses stay in the field to be corrected.
    setDraft(r.invalid.join(' '));
    return r.invalid.length === 0;
  };

  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.nativeEvent.isComposing) return;
    if (e.key === 'Enter' || e.key === ';' || e.key === ' ' || e.key === ',') {
      e.preventDefault();
      add(draft);
    } else if (e.key === 'Tab' && draft.trim() !== '') {
      // Tab adds what was typed (and stays for the next); with nothing typed it moves focus as usual.
      e.preventDefault();
      add(draft);
    } else if (e.key === 'Backspace' && draft === '' && value.length > 0) {
      onChange(value.slice(0, -1));
    }
  };

  const describedBy = [hintId, notice ? noticeId : '', error ? errorId : ''].filter(Boolean).join(' ');
  return (
    <div className="send-addresses" data-field={name}>
      <label htmlFor={inputId}>{label}</label>
      {value.length > 0 && (
        <ul className="send-chips">
          {value.map((a) => (
            <li key={a}>
              <span>{a}</span>
              <button
                type="button"
                className="send-chip-remove"
                aria-label={t('removeAddress', { address: a })}
                onClick={() => onChange(value.filter((x) => x !== a))}
              >
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className="row">
        <input
          id={inputId}
          type="text"
          inputMode="email"
          autoComplete="off"
          className="send-address-input"
          value={draft}
          aria-describedby={describedBy}
          aria-invalid={error ? true : undefined}
          onChange={(e) => {
            const v = e.target.value;
            // A pasted list, or a typed separator, adds at once.
            if (/[;\s,]/.test(v.trim())) add(v);
            else setDraft(v);
          }}
          onKeyDown={onKeyDown}
          onBlur={() => draft.trim() && add(draft)}
        />
        <button type="button" onClick={() => add(draft)}>
          {t('addAddress')}
        </button>
        <button type="button" onClick={() => setBulk('')}>
          {t('bulkEntry')}
        </button>
        {value.length > 0 && (
          <button type="button" onClick={() => onChange([])}>
            {t('clearAddresses')}
          </button>
        )}
      </div>
      <p id={hintId} className="hint">
        {t('addressInputHint', { n: value.length.toLocaleString(), max: max.toLocaleString() })}
      </p>
      {notice && (
        <p id={noticeId} className="field-error" role="status">
          {notice}
        </p>
      )}
      {error && (
        <p id={errorId} className="field-error" role="alert">
          {error}
        </p>
      )}
      {bulk !== null && (
        <Dialog title={t('bulkEntryTitle', { label })} onClose={() => setBulk(null)}>
          <form
            method="dialog"
            onSubmit={(e) => {
              e.preventDefault();
              add(bulk);
              setBulk(null);
            }}
          >
            <label>
              {t('bulkEntryLabel')}
              <textarea
                rows={8}
                cols={60}
                value={bulk}
                onChange={(e) => setBulk(e.target.value)}
                onKeyDown={(e) => {
                  // Tab is a separator here (the guide), not a way out of the field.
                  if (e.key === 'Tab' && !e.shiftKey && bulk.trim() !== '' && !/\s$/.test(bulk)) {
                    e.preventDefault();
                    setBulk(`${bulk}\t`);
                  }
                }}
              />
            </label>
            <p className="hint">{t('bulkEntryHint')}</p>
            <div className="dialog-actions">
              <button type="button" onClick={() => setBulk(null)}>
                {tc('cancel')}
              </button>
              <button type="submit" className="primary">
                {t('bulkEntryAdd')}
              </button>
            </div>
          </form>
        </Dialog>
      )}
    </div>
  );
}
