import { type ClipboardEvent, useEffect, useId, useRef, useState } from 'react';
import { common } from '../../components/messages.ts';
import { useT } from '../../i18n/i18n.tsx';
import { htmlToText, textToHtml } from './compose.ts';
import { Dialog } from '../../components/Dialog.tsx';
import { m } from './messages.ts';
import { sanitizedFragment, sanitizeHtml } from './sanitize.ts';

export type BodyFormat = 'editor' | 'html' | 'text';

export interface BodyState {
  format: BodyFormat;
  /** Editor and HTML styles */
  html: string;
  /** TEXT style */
  text: string;
  /** bumped when the content is replaced from outside (template import, style change) */
  version: number;
}

/** The HTML the API gets: the editor's sanitised, HTML as written, TEXT escaped with <br>. */
export function bodyForApi(b: BodyState): string {
  if (b.format === 'text') return textToHtml(b.text);
  if (b.format === 'editor') return sanitizeHtml(b.html);
  return b.html;
}

/** Switching styles carries the content over. */
export function switchFormat(b: BodyState, to: BodyFormat): BodyState {
  if (to === b.format) return b;
  if (to === 'text') return { ...b, format: to, text: b.text || htmlToText(b.html), version: b.version + 1 };
  if (b.format === 'text') return { ...b, format: to, html: textToHtml(b.text), version: b.version + 1 };
  // editor ↔ html: HTML written by hand is cleaned when it enters the editor
  return { ...b, format: to, html: to === 'editor' ? sanitizeHtml(b.html) : b.html, version: b.version + 1 };
}

const COMMANDS = [
  ['bold', 'bold', 'B'],
  ['italic', 'italic', 'I'],
  ['underline', 'underline', 'U'],
  ['insertUnorderedList', 'bulletList', '•'],
  ['insertOrderedList', 'numberedList', '1.'],
  ['createLink', 'link', '↗'],
  ['removeFormat', 'removeFormat', '⌫'],
] as const;

export function BodyEditor({
  value,
  onChange,
  locked,
  error,
  errorId,
}: {
  value: BodyState;
  onChange: (b: BodyState) => void;
  locked: boolean;
  error?: string;
  errorId: string;
}) {
  const t = useT(m);
  const tc = useT(common);
  const editorRef = useRef<HTMLDivElement>(null);
  const savedRange = useRef<Range | null>(null);
  const labelId = useId();
  const htmlId = useId();
  const textId = useId();
  const hintId = useId();
  const [preview, setPreview] = useState(false);
  const latest = useRef(value);
  latest.current = value;

  // The editor is uncontrolled: its content is (re)loaded only when replaced from outside.
  // biome-ignore lint/correctness/useExhaustiveDependencies: reload on version/format only
  useEffect(() => {
    const el = editorRef.current;
    if (!el || value.format !== 'editor') return;
    el.replaceChildren(sanitizedFragment(value.html, document));
  }, [value.version, value.format]);

  const readEditor = () => {
    const el = editorRef.current;
    if (el) onChange({ ...latest.current, html: el.innerHTML });
  };

  const onPaste = (e: ClipboardEvent<HTMLDivElement>) => {
    const html = e.clipboardData.getData('text/html');
    const text = e.clipboardData.getData('text/plain');
    e.preventDefault();
    // What is pasted is cleaned before it enters the page: no script, handler or javascript: link.
    if (html) document.execCommand('insertHTML', false, sanitizeHtml(html));
    else document.execCommand('insertText', false, text);
    readEditor();
  };

  const saveSelection = () => {
    const sel = window.getSelection();
    if (sel && sel.rangeCount > 0 && editorRef.current?.contains(sel.anchorNode)) savedRange.current = sel.getRangeAt(0);
  };

  const run = (command: string) => {
    const el = editorRef.current;
    if (!el) return;
    el.focus();
    const sel = window.getSelection();
    if (savedRange.current && sel) {
      sel.removeAllRanges();
      sel.addRange(savedRange.current);
    }
    if (command === 'createLink') {
      const url = window.prompt(t('linkPrompt'), 'https://');
      if (!url || !/^(https?:|mailto:|#\{|\$\{)/i.test(url.trim())) return;
      document.execCommand('createLink', false, url.trim());
    } else document.execCommand(command);
    readEditor();
  };

  const setFormat = (f: BodyFormat) => onChange(switchFormat(latest.current, f));
  const describedBy = [hintId, error ? errorId : ''].filter(Boolean).join(' ') || undefined;

  return (
    <fieldset className="send-body">
      <legend id={labelId}>{t('body')}</legend>
      <div className="row send-body-head">
        <fieldset className="send-inline" disabled={locked}>
          <legend className="visually-hidden">{t('bodyStyle')}</legend>
          <span aria-hidden="true" className="send-inline-label">
            {t('bodyStyle')}
          </span>
          {(['editor', 'html', 'text'] as const).map((f) => (
            <label key={f} className="send-radio">
              <input type="radio" name="bodyFormat" value={f} checked={value.format === f} onChange={() => setFormat(f)} />
              {t(f === 'editor' ? 'styleEditor' : f === 'html' ? 'styleHtml' : 'styleText')}
            </label>
          ))}
        </fieldset>
        <button type="button" onClick={() => setPreview(true)}>
          {t('preview')}
        </button>
      </div>
      {value.format === 'editor' && (
        <>
          <div role="toolbar" aria-label={t('toolbar')} aria-controls={htmlId} className="send-toolbar">
            {COMMANDS.map(([cmd, key, glyph]) => (
              <button key={cmd} type="button" title={t(key)} disabled={locked} onMouseDown={(e) => e.preventDefault()} onClick={() => run(cmd)}>
                <span aria-hidden="true">{glyph}</span>
                <span className="visually-hidden">{t(key)}</span>
              </button>
            ))}
          </div>
          {/* biome-ignore lint/a11y/useSemanticElements: a rich-text editor is a contentEditable, which a textarea can't be */}
          <div
            ref={editorRef}
            id={htmlId}
            className="editor"
            role="textbox"
            tabIndex={0}
            aria-multiline="true"
            aria-labelledby={labelId}
            aria-describedby={describedBy}
            aria-invalid={error ? true : undefined}
            aria-readonly={locked || undefined}
            contentEditable={!locked}
            suppressContentEditableWarning
            onInput={readEditor}
            onBlur={() => {
              saveSelection();
              readEditor();
            }}
            onKeyUp={saveSelection}
            onMouseUp={saveSelection}
            onPaste={onPaste}
            onDrop={(e) => e.preventDefault()}
          />
        </>
      )}
      {value.format === 'html' && (
        <div className="send-field">
          <label htmlFor={htmlId}>{t('bodyHtmlLabel')}</label>
          <textarea
            id={htmlId}
            className="send-code"
            rows={12}
            value={value.html}
            readOnly={locked}
            aria-describedby={describedBy}
            aria-invalid={error ? true : undefined}
            onChange={(e) => onChange({ ...value, html: e.target.value })}
          />
        </div>
      )}
      {value.format === 'text' && (
        <div className="send-field">
          <label htmlFor={textId}>{t('bodyTextLabel')}</label>
          <textarea
            id={textId}
            rows={12}
            value={value.text}
            readOnly={locked}
            aria-describedby={describedBy}
            aria-invalid={error ? true : undefined}
            onChange={(e) => onChange({ ...value, text: e.target.value })}
          />
        </div>
      )}
      <p id={hintId} className="hint">
        {value.format === 'text' ? t('bodyTextHint') : t('subjectHint')}
      </p>
      {error && (
        <p id={errorId} className="field-error" role="alert">
          {error}
        </p>
      )}
      {preview && (
        <Dialog title={t('previewTitle')} onClose={() => setPreview(false)} className="send-preview">
          {/* The body is shown only in a sandboxed frame (no scripts), never in the console's page. */}
          <iframe className="mail-body" sandbox="" title={t('previewTitle')} srcDoc={bodyForApi(value)} />
          <div className="dialog-actions">
            <button type="button" onClick={() => setPreview(false)}>
              {tc('close')}
            </button>
          </div>
        </Dialog>
      )}
    </fieldset>
  );
}
