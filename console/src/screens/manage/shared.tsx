import { Dialog } from '../../components/Dialog.tsx';
import type { ReactNode } from 'react';
import { ApiError } from '../../api/client.ts';
import { common } from '../../components/messages.ts';
import { defineMessages, useT } from '../../i18n/i18n.tsx';

/** Texts shared by the management screens. */
export const manageShared = defineMessages({
  ja: {
    listHint: 'アドレスは改行、スペース、カンマ、セミコロンで区切って複数入力できます。',
    confirmTitle: '確認',
    saved: '保存しました。',
  },
  ko: {
    listHint: '주소는 줄바꿈, 공백, 쉼표, 세미콜론으로 구분해 여러 개 입력할 수 있습니다.',
    confirmTitle: '확인',
    saved: '저장했습니다.',
  },
  en: {
    listHint: 'Enter several, separated by new lines, spaces, commas or semicolons.',
    confirmTitle: 'Confirm',
    saved: 'Saved.',
  },
});

/** Addresses or domains typed in a text area: split on white space, commas and semicolons. */
export function splitList(text: string): string[] {
  return text
    .split(/[\s,;]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** "2018-11-20 15:19:53 240" → "2018-11-20 15:19:53": the API's display time, without milliseconds. */
export function shortDate(d: { formattedDateTime: string } | null | undefined): string {
  return d ? d.formattedDateTime.slice(0, 19) : '';
}

/** An API error's message (localised by the API), for role="alert" texts. */
export function errorText(err: unknown): string {
  if (!err) return '';
  return err instanceof ApiError ? err.message : String((err as Error).message ?? err);
}

export function ErrorMessage({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {errorText(error)}
    </p>
  );
}

/** The console's dialog while `open` (rendered only then, so its fields start fresh each time). */
export function Modal({ open, ...rest }: { open: boolean; title: string; onClose: () => void; children: ReactNode; className?: string }) {
  return open ? <Dialog {...rest} /> : null;
}

/** A yes/no question in a modal dialog; `busy` disables the buttons while the action runs. */
export function ConfirmDialog({
  open,
  message,
  confirmLabel,
  danger,
  busy,
  error,
  onConfirm,
  onClose,
}: {
  open: boolean;
  message: string;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  error?: unknown;
  onConfirm: () => void;
  onClose: () => void;
}) {
  const t = useT(common);
  const s = useT(manageShared);
  return (
    <Modal open={open} title={s('confirmTitle')} onClose={onClose}>
      <p>{message}</p>
      <ErrorMessage error={error} />
      <div className="dialog-actions">
        <button type="button" onClick={onClose} disabled={busy}>
          {t('cancel')}
        </button>
        <button type="button" className={danger ? 'danger' : 'primary'} onClick={onConfirm} disabled={busy}>
          {confirmLabel}
        </button>
      </div>
    </Modal>
  );
}

/** Previous / next for a Spring-style page (number is 0-based). */
export function Pager({ page, totalPages, onPage }: { page: number; totalPages: number; onPage: (p: number) => void }) {
  const t = useT(common);
  if (totalPages <= 1) return null;
  return (
    <nav className="pager" aria-label={t('pageOf', { page: page + 1, total: totalPages })}>
      <button type="button" onClick={() => onPage(page - 1)} disabled={page <= 0}>
        {t('previous')}
      </button>
      <span>{t('pageOf', { page: page + 1, total: totalPages })}</span>
      <button type="button" onClick={() => onPage(page + 1)} disabled={page + 1 >= totalPages}>
        {t('next')}
      </button>
    </nav>
  );
}

/** A short-lived status line (role="status") after an action succeeded. */
export function Notice({ text }: { text: string }) {
  // Always in the page, so that a screen reader announces the text when it appears.
  return (
    <p className="manage-notice" role="status">
      {text}
    </p>
  );
}
