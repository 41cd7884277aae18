import { type DragEvent, useId, useRef, useState } from 'react';
import { api, ApiError, unwrap } from '../../api/client.ts';
import { useT } from '../../i18n/i18n.tsx';
import { ATTACH, BLOCKED_EXTENSIONS, blockedExtension, formatSize } from './compose.ts';
import { m } from './messages.ts';

export interface Attachment {
  key: string;
  name: string;
  size: number;
  status: 'uploading' | 'done';
  fileId?: string;
  tempRequestId?: string;
}

let seq = 0;

/** Uploads one file (POST /files, multipart `fileList`): one upload per file, so each can be removed alone. */
async function upload(file: File) {
  const fd = new FormData();
  fd.append('fileList', file, file.name);
  return unwrap(await api.POST('/files', { body: fd as never, bodySerializer: (b: unknown) => b as FormData }));
}

/**
 * Attachments by drag and drop or [ファイルを追加]. The limits (10 MB a file, 20 MB in all) and
 * the blocked extensions are shown before anything is chosen, and checked here before upload;
 * the service checks them again (and looks inside archives).
 */
export function Attachments({
  value,
  onChange,
  error,
  errorId,
}: {
  value: Attachment[];
  onChange: (update: (prev: Attachment[]) => Attachment[]) => void;
  error?: string;
  errorId: string;
}) {
  const t = useT(m);
  const inputRef = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const [problems, setProblems] = useState<string[]>([]);
  const limitsId = useId();
  const problemsId = useId();
  const total = value.reduce((s, a) => s + a.size, 0);

  const add = (files: File[]) => {
    const found: string[] = [];
    let sum = total;
    const accepted: { file: File; key: string }[] = [];
    for (const file of files) {
      const ext = blockedExtension(file.name);
      if (ext) found.push(t('attachBlockedFile', { name: file.name, ext }));
      else if (file.size > ATTACH.fileBytes) found.push(t('attachTooLarge', { name: file.name, size: formatSize(file.size), file: ATTACH.fileMb }));
      else if (sum + file.size > ATTACH.mailBytes)
        found.push(t('attachTotalTooLarge', { name: file.name, size: formatSize(sum + file.size), total: ATTACH.mailMb }));
      else {
        sum += file.size;
        accepted.push({ file, key: `a${++seq}` });
      }
    }
    setProblems(found);
    if (accepted.length === 0) return;
    onChange((prev) => [...prev, ...accepted.map(({ file, key }) => ({ key, name: file.name, size: file.size, status: 'uploading' as const }))]);
    for (const { file, key } of accepted) {
      upload(file).then(
        (res) => {
          const f = res.files[0];
          onChange((prev) => prev.map((a) => (a.key === key ? { ...a, status: 'done', fileId: f?.fileId, tempRequestId: res.tempRequestId } : a)));
        },
        (err: unknown) => {
          onChange((prev) => prev.filter((a) => a.key !== key));
          const message = err instanceof ApiError ? err.message : String(err);
          setProblems((p) => [...p, t('attachFailed', { name: file.name, message })]);
        },
      );
    }
  };

  const remove = (a: Attachment) => {
    onChange((prev) => prev.filter((x) => x.key !== a.key));
    // The upload is deleted at once (unused uploads would go after 24 hours anyway).
    if (a.tempRequestId) void api.DELETE('/files/{tempRequestId}', { params: { path: { tempRequestId: a.tempRequestId } } }).catch(() => {});
  };

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    add([...e.dataTransfer.files]);
  };

  const describedBy = [limitsId, problems.length ? problemsId : '', error ? errorId : ''].filter(Boolean).join(' ');
  return (
    <fieldset className="send-attachments">
      <legend>{t('attachments')}</legend>
      <div id={limitsId} className="hint send-limits">
        <p>{t('attachLimits', { file: ATTACH.fileMb, total: ATTACH.mailMb })}</p>
        <p>{t('attachBlocked', { list: BLOCKED_EXTENSIONS.map((x) => `.${x}`).join(' ') })}</p>
        <p>{t('attachZip')}</p>
      </div>
      {/* biome-ignore lint/a11y/noStaticElementInteractions: a drop target for the mouse; the button inside does the same from the keyboard */}
      <div
        className={`dropzone${over ? ' over' : ''}`}
        data-testid="attachment-dropzone"
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        <p>{t('dropHere')}</p>
        <button type="button" aria-describedby={describedBy} onClick={() => inputRef.current?.click()}>
          {t('addFile')}
        </button>
        <input
          ref={inputRef}
          type="file"
          multiple
          hidden
          aria-label={t('addFile')}
          data-testid="attachment-input"
          onChange={(e) => {
            add([...(e.target.files ?? [])]);
            e.target.value = '';
          }}
        />
      </div>
      {problems.length > 0 && (
        <ul id={problemsId} className="field-error send-problems" role="alert">
          {problems.map((p) => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      )}
      {value.length > 0 && (
        <>
          <ul className="send-files">
            {value.map((a) => (
              <li key={a.key}>
                <span>{a.name}</span> <span className="hint">{formatSize(a.size)}</span>
                {a.status === 'uploading' ? (
                  <span className="hint"> {t('attachUploading')}</span>
                ) : (
                  <button type="button" className="link" aria-label={t('attachRemove', { name: a.name })} onClick={() => remove(a)}>
                    ×
                  </button>
                )}
              </li>
            ))}
          </ul>
          <p className="hint">{t('attachTotal', { size: formatSize(total), total: ATTACH.mailMb })}</p>
        </>
      )}
      {error && (
        <p id={errorId} className="field-error" role="alert">
          {error}
        </p>
      )}
    </fieldset>
  );
}
