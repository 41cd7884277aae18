import { useQuery } from '@tanstack/react-query';
import { useId, useState } from 'react';
import { api, unwrap } from '../../api/client.ts';
import { common } from '../../components/messages.ts';
import { useT } from '../../i18n/i18n.tsx';
import { Dialog } from '../../components/Dialog.tsx';
import { m } from './messages.ts';

export interface TemplateChoice {
  sid: number;
  name: string;
  /** its categories, top down ("Events / 2026") */
  path: string;
}

interface TreeItem {
  sid: number;
  name: string;
  isCategory: boolean;
  isUse: boolean;
  subCategoris?: unknown[];
  templates?: unknown[];
}

/** The templates of GET /template's tree, depth first, each with its category path. */
export function flattenTemplates(items: unknown[], path: string[] = [], out: TemplateChoice[] = []): TemplateChoice[] {
  for (const raw of items) {
    const item = raw as TreeItem;
    if (item.isCategory) {
      flattenTemplates(item.templates ?? [], [...path, item.name], out);
      flattenTemplates(item.subCategoris ?? [], [...path, item.name], out);
    } else if (item.isUse !== false) out.push({ sid: item.sid, name: item.name, path: path.join(' / ') });
  }
  return out;
}

export function useTemplateChoices(enabled: boolean) {
  return useQuery({
    queryKey: ['template-tree', 'in-use'],
    enabled,
    queryFn: async () => flattenTemplates(unwrap(await api.GET('/template', { params: { query: { isUse: true } } })).contents),
  });
}

const label = (c: TemplateChoice) => (c.path ? `${c.path} / ${c.name}` : c.name);

/**
 * Template use on/off; the template is chosen in the drop-down or in the [インポート] dialog, and
 * its sender, subject and body are filled in (GET /template/{sid}).
 */
export function TemplatePicker({
  use,
  onUse,
  sid,
  onImport,
  error,
  errorId,
}: {
  use: boolean;
  onUse: (on: boolean) => void;
  sid: number | null;
  onImport: (sid: number) => void;
  error?: string;
  errorId: string;
}) {
  const t = useT(m);
  const tc = useT(common);
  const choices = useTemplateChoices(use);
  const [importing, setImporting] = useState<number | null | undefined>(undefined);
  const selectId = useId();
  return (
    <fieldset className="send-template">
      <legend>{t('templateSection')}</legend>
      <div className="row">
        <label className="send-check">
          <input type="checkbox" checked={use} onChange={(e) => onUse(e.target.checked)} />
          {t('useTemplate')}
        </label>
        {use && (
          <>
            <label htmlFor={selectId} className="visually-hidden">
              {t('templateSelect')}
            </label>
            <select
              id={selectId}
              value={sid ?? ''}
              aria-describedby={error ? errorId : undefined}
              aria-invalid={error ? true : undefined}
              onChange={(e) => e.target.value && onImport(Number(e.target.value))}
            >
              <option value="">{t('templateNone')}</option>
              {choices.data?.map((c) => (
                <option key={c.sid} value={c.sid}>
                  {label(c)}
                </option>
              ))}
            </select>
            <button type="button" onClick={() => setImporting(sid)}>
              {t('templateImport')}
            </button>
          </>
        )}
      </div>
      {error && (
        <p id={errorId} className="field-error" role="alert">
          {error}
        </p>
      )}
      {importing !== undefined && (
        <Dialog title={t('templateImportTitle')} onClose={() => setImporting(undefined)}>
          <form
            onSubmit={(e) => {
              e.preventDefault();
              if (importing !== null) onImport(importing);
              setImporting(undefined);
            }}
          >
            <p>{t('templateImportLead')}</p>
            {choices.isPending && <p>{tc('loading')}</p>}
            {choices.data?.length === 0 && <p>{t('templateEmpty')}</p>}
            {choices.data && choices.data.length > 0 && (
              <fieldset className="send-template-list">
                <legend className="visually-hidden">{t('templateSelect')}</legend>
                {choices.data.map((c) => (
                  <label key={c.sid} className="send-radio">
                    <input type="radio" name="importTemplate" value={c.sid} checked={importing === c.sid} onChange={() => setImporting(c.sid)} />
                    {label(c)}
                  </label>
                ))}
              </fieldset>
            )}
            <div className="dialog-actions">
              <button type="button" onClick={() => setImporting(undefined)}>
                {tc('cancel')}
              </button>
              <button type="submit" className="primary" disabled={importing === null}>
                {t('templateImport')}
              </button>
            </div>
          </form>
        </Dialog>
      )}
    </fieldset>
  );
}
