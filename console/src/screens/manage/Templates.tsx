import './manage.css';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useRef, useState } from 'react';
import type { components } from '../../../../src/generated/api.ts';
import { ApiError, api, unwrap } from '../../api/client.ts';
import { common } from '../../components/messages.ts';
import { useT } from '../../i18n/i18n.tsx';
import { ConfirmDialog, ErrorMessage, Modal, Notice, shortDate } from './shared.tsx';
import { m } from './templates.messages.ts';

type Template = components['schemas']['Template'];
/** A node of getTemplateStructure's tree (the spec spells out two levels; deeper ones are alike). */
type Node = { sid: number; parentSid: number; name: string; isCategory: boolean; isUse: boolean; subCategoris: Node[]; templates: Node[] };
type Category = { sid: number; parentSid: number; name: string; depth: number };

const TREE = ['templates', 'tree'] as const;
const BACKUPS = ['templates', 'backups'] as const;

/** Every category of the tree, depth first, with its depth (for pickers). */
function flattenCategories(nodes: Node[], depth = 0, out: Category[] = []): Category[] {
  for (const n of nodes) {
    if (!n.isCategory) continue;
    out.push({ sid: n.sid, parentSid: n.parentSid, name: n.name, depth });
    flattenCategories(n.subCategoris, depth + 1, out);
  }
  return out;
}

/** A category and everything under it (a category can't move into those). */
function subtreeSids(categories: Category[], sid: number): Set<number> {
  const out = new Set([sid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const c of categories) {
      if (!out.has(c.sid) && out.has(c.parentSid)) {
        out.add(c.sid);
        grew = true;
      }
    }
  }
  return out;
}

function CategoryOptions({ categories, exclude }: { categories: Category[]; exclude?: Set<number> }) {
  const t = useT(m);
  return (
    <>
      <option value="-1">{t('topLevel')}</option>
      {categories
        .filter((c) => !exclude?.has(c.sid))
        .map((c) => (
          <option key={c.sid} value={String(c.sid)}>
            {`${'\u00a0\u00a0'.repeat(c.depth)}${c.name}`}
          </option>
        ))}
    </>
  );
}

type Selection = { kind: 'none' } | { kind: 'new' } | { kind: 'template'; sid: number };

/** Templates and categories (tree, create, edit, move, delete, restore) with backup and restore. */
export default function Templates() {
  const t = useT(m);
  const c = useT(common);
  const qc = useQueryClient();
  const [showDeleted, setShowDeleted] = useState(true);
  const [selection, setSelection] = useState<Selection>({ kind: 'none' });
  const [notice, setNotice] = useState('');
  const [categoryDialog, setCategoryDialog] = useState<{ mode: 'new' } | { mode: 'edit'; category: Category } | undefined>();
  const [deletingCategory, setDeletingCategory] = useState<Category | undefined>();

  const tree = useQuery({
    queryKey: [...TREE, showDeleted],
    queryFn: async () => unwrap(await api.GET('/template', { params: { query: showDeleted ? {} : { isUse: true } } })),
  });
  const nodes = (tree.data?.contents ?? []) as unknown as Node[];
  const categories = flattenCategories(nodes);
  const refreshTree = () => void qc.invalidateQueries({ queryKey: TREE });

  const deleteCategory = useMutation({
    mutationFn: async (cat: Category) => unwrap(await api.DELETE('/category/{categorySid}', { params: { path: { categorySid: String(cat.sid) } } })),
    onSuccess: (cat) => {
      setDeletingCategory(undefined);
      setNotice(t('deletedCategory', { name: cat.name }));
      refreshTree();
    },
  });

  const renderNodes = (list: Node[]) => (
    <ul>
      {list.map((n) =>
        n.isCategory ? (
          <li key={`c${n.sid}`} className="tpl-category">
            <div className="tpl-row">
              <span className="tpl-category-name">{n.name}</span>
              <button
                type="button"
                className="small"
                aria-label={t('editCategoryLabel', { name: n.name })}
                onClick={() => setCategoryDialog({ mode: 'edit', category: categories.find((x) => x.sid === n.sid)! })}
              >
                {t('editCategory')}
              </button>
              <button
                type="button"
                className="small danger"
                aria-label={t('deleteCategoryLabel', { name: n.name })}
                onClick={() => setDeletingCategory(categories.find((x) => x.sid === n.sid))}
              >
                {t('deleteCategory')}
              </button>
            </div>
            {n.subCategoris.length + n.templates.length > 0 && renderNodes([...n.subCategoris, ...n.templates])}
          </li>
        ) : (
          <li key={`t${n.sid}`}>
            <button
              type="button"
              className={`tpl-template${n.isUse ? '' : ' deleted'}`}
              aria-current={selection.kind === 'template' && selection.sid === n.sid ? 'true' : undefined}
              onClick={() => setSelection({ kind: 'template', sid: n.sid })}
            >
              {n.name}
              {!n.isUse && <span className="status status-off">{t('deletedBadge')}</span>}
            </button>
          </li>
        ),
      )}
    </ul>
  );

  return (
    <section className="manage" aria-labelledby="tpl-title">
      <h1 id="tpl-title">{t('title')}</h1>
      <p className="hint">{t('lead')}</p>
      <div className="toolbar">
        <button type="button" className="primary" onClick={() => setSelection({ kind: 'new' })}>
          {t('newTemplate')}
        </button>
        <button type="button" onClick={() => setCategoryDialog({ mode: 'new' })}>
          {t('newCategory')}
        </button>
        <label className="inline">
          <input type="checkbox" checked={showDeleted} onChange={(e) => setShowDeleted(e.target.checked)} />
          {t('showDeleted')}
        </label>
        <span className="spacer" />
        <button type="button" onClick={refreshTree}>
          {c('refresh')}
        </button>
      </div>
      <Notice text={notice} />
      <ErrorMessage error={tree.error} />
      <div className="tpl-layout">
        <nav className="card tpl-tree" aria-label={t('treeLabel')}>
          {tree.isPending ? <p>{c('loading')}</p> : nodes.length === 0 ? <p>{t('noTemplates')}</p> : renderNodes(nodes)}
        </nav>
        <div className="tpl-editor">
          {selection.kind === 'none' && <p className="card hint">{t('selectHint')}</p>}
          {selection.kind === 'new' && (
            <TemplateEditor
              key="new"
              categories={categories}
              onDone={(tpl, what) => {
                setNotice(t(what, { name: tpl.name }));
                setSelection({ kind: 'template', sid: tpl.sid });
                refreshTree();
              }}
              onCancel={() => setSelection({ kind: 'none' })}
            />
          )}
          {selection.kind === 'template' && (
            <LoadedEditor
              key={selection.sid}
              sid={selection.sid}
              categories={categories}
              onDone={(tpl, what) => {
                setNotice(t(what, { name: tpl.name }));
                refreshTree();
              }}
              onCancel={() => setSelection({ kind: 'none' })}
            />
          )}
        </div>
      </div>

      <Backups onRestored={() => refreshTree()} />

      <CategoryDialog
        state={categoryDialog}
        categories={categories}
        onClose={() => setCategoryDialog(undefined)}
        onSaved={(name) => {
          setCategoryDialog(undefined);
          setNotice(t('savedCategory', { name }));
          refreshTree();
        }}
      />
      <ConfirmDialog
        open={deletingCategory !== undefined}
        message={t('deleteCategoryConfirm', { name: deletingCategory?.name ?? '' })}
        confirmLabel={t('deleteCategory')}
        danger
        busy={deleteCategory.isPending}
        error={deleteCategory.error}
        onConfirm={() => deletingCategory && deleteCategory.mutate(deletingCategory)}
        onClose={() => {
          setDeletingCategory(undefined);
          deleteCategory.reset();
        }}
      />
    </section>
  );
}

type Done = (tpl: Template, what: 'savedTemplate' | 'deletedTemplate' | 'restoredTemplate') => void;

function LoadedEditor({ sid, categories, onDone, onCancel }: { sid: number; categories: Category[]; onDone: Done; onCancel: () => void }) {
  const c = useT(common);
  const q = useQuery({
    queryKey: ['templates', 'one', sid],
    queryFn: async () => unwrap(await api.GET('/template/{templateSid}', { params: { path: { templateSid: String(sid) } } })),
  });
  if (q.error) return <ErrorMessage error={q.error} />;
  if (!q.data) return <p>{c('loading')}</p>;
  return <TemplateEditor key={`${sid}-${q.dataUpdatedAt}`} template={q.data} categories={categories} onDone={onDone} onCancel={onCancel} />;
}

const FIELDS = ['templateName', 'categorySid', 'description', 'title', 'senderAddress', 'senderName', 'body'] as const;
type Field = (typeof FIELDS)[number];

function TemplateEditor({ template, categories, onDone, onCancel }: { template?: Template; categories: Category[]; onDone: Done; onCancel: () => void }) {
  const t = useT(m);
  const c = useT(common);
  const qc = useQueryClient();
  const [v, setV] = useState<Record<Field, string>>({
    templateName: template?.name ?? '',
    categorySid: String(template?.category?.sid ?? -1),
    description: template?.description ?? '',
    title: template?.title ?? '',
    senderAddress: template?.senderAddress ?? '',
    senderName: template?.senderName ?? '',
    body: template?.body ?? '',
  });
  const [confirmDelete, setConfirmDelete] = useState(false);
  const set = (f: Field) => (e: { target: { value: string } }) => setV({ ...v, [f]: e.target.value });
  const after = (tpl: Template) => {
    qc.setQueryData(['templates', 'one', tpl.sid], tpl);
  };

  const save = useMutation({
    mutationFn: async (): Promise<Template> => {
      const fields = {
        templateName: v.templateName,
        description: v.description || null,
        title: v.title,
        body: v.body,
        senderAddress: v.senderAddress,
        senderName: v.senderName || null,
      };
      if (!template) return unwrap(await api.POST('/template', { body: { ...fields, categorySid: Number(v.categorySid) } }));
      const path = { templateSid: String(template.sid) };
      let saved = unwrap(await api.PUT('/template/{templateSid}', { params: { path }, body: { ...fields, isUse: template.isUse } }));
      if (v.categorySid !== String(template.category?.sid ?? -1)) {
        saved = unwrap(
          await api.PUT('/template/{templateSid}/name-location', {
            params: { path },
            body: { templateName: v.templateName, parentSid: Number(v.categorySid) },
          }),
        );
      }
      return saved;
    },
    onSuccess: (tpl) => {
      after(tpl);
      onDone(tpl, 'savedTemplate');
    },
  });
  const remove = useMutation({
    mutationFn: async (sid: number) => unwrap(await api.DELETE('/template/{templateSid}', { params: { path: { templateSid: String(sid) } } })),
    onSuccess: (tpl) => {
      setConfirmDelete(false);
      after(tpl);
      onDone(tpl, 'deletedTemplate');
    },
  });
  const restore = useMutation({
    mutationFn: async (sid: number) => unwrap(await api.PUT('/template/{templateSid}/restoration', { params: { path: { templateSid: String(sid) } } })),
    onSuccess: (tpl) => {
      after(tpl);
      onDone(tpl, 'restoredTemplate');
    },
  });

  const err = save.error instanceof ApiError ? save.error : undefined;
  const errField = err?.field?.replace(/^parentSid$/, 'categorySid') as Field | undefined;
  const fieldError = (f: Field) => (errField === f ? err!.message : '');
  const general = save.error && !(errField && (FIELDS as readonly string[]).includes(errField)) ? save.error : undefined;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };
  const input = (f: Field, label: string, opts: { type?: string; required?: boolean } = {}) => (
    <label>
      {label}
      <input
        type={opts.type ?? 'text'}
        required={opts.required}
        value={v[f]}
        onChange={set(f)}
        aria-invalid={fieldError(f) ? true : undefined}
        aria-describedby={`tpl-err-${f}`}
      />
      <span id={`tpl-err-${f}`} className="field-error">
        {fieldError(f)}
      </span>
    </label>
  );

  return (
    <form className="card form-grid" onSubmit={submit} aria-labelledby="tpl-editor-title">
      <h2 id="tpl-editor-title">{template ? t('editorEdit') : t('editorNew')}</h2>
      {template && (
        <p className="hint">
          {t('templateId', { sid: template.sid })} / {t('createdAt', { date: shortDate(template.createDate) })}
        </p>
      )}
      {template && !template.isUse && (
        <p className="warning" role="note">
          {t('deletedNotice')}
        </p>
      )}
      <div className="row">
        {input('templateName', t('templateName'), { required: true })}
        <label>
          {t('category')}
          <select
            value={v.categorySid}
            onChange={set('categorySid')}
            aria-invalid={fieldError('categorySid') ? true : undefined}
            aria-describedby="tpl-err-categorySid"
          >
            <CategoryOptions categories={categories} />
          </select>
          <span id="tpl-err-categorySid" className="field-error">
            {fieldError('categorySid')}
          </span>
        </label>
      </div>
      {input('description', t('description'))}
      {input('title', t('subject'), { required: true })}
      <div className="row">
        {input('senderAddress', t('senderAddress'), { type: 'email', required: true })}
        {input('senderName', t('senderName'))}
      </div>
      <label>
        {t('body')}
        <textarea
          rows={10}
          className="mono"
          required
          value={v.body}
          onChange={set('body')}
          aria-invalid={fieldError('body') ? true : undefined}
          aria-describedby="tpl-err-body"
        />
        <span id="tpl-err-body" className="field-error">
          {fieldError('body')}
        </span>
      </label>
      {v.body && (
        <details>
          <summary>{t('preview')}</summary>
          <iframe className="mail-body" sandbox="" srcDoc={v.body} title={t('previewTitle')} />
        </details>
      )}
      <ErrorMessage error={general ?? remove.error ?? restore.error} />
      <div className="row">
        <button type="submit" className="primary" disabled={save.isPending}>
          {c('save')}
        </button>
        {template?.isUse && (
          <button type="button" className="danger" onClick={() => setConfirmDelete(true)}>
            {t('deleteTemplate')}
          </button>
        )}
        {template && !template.isUse && (
          <button type="button" onClick={() => restore.mutate(template.sid)} disabled={restore.isPending}>
            {t('restoreTemplate')}
          </button>
        )}
        <button type="button" onClick={onCancel}>
          {c('cancel')}
        </button>
      </div>
      <ConfirmDialog
        open={confirmDelete}
        message={t('deleteTemplateConfirm', { name: template?.name ?? '' })}
        confirmLabel={t('deleteTemplate')}
        danger
        busy={remove.isPending}
        error={remove.error}
        onConfirm={() => template && remove.mutate(template.sid)}
        onClose={() => {
          setConfirmDelete(false);
          remove.reset();
        }}
      />
    </form>
  );
}

function CategoryDialog({
  state,
  categories,
  onClose,
  onSaved,
}: {
  state: { mode: 'new' } | { mode: 'edit'; category: Category } | undefined;
  categories: Category[];
  onClose: () => void;
  onSaved: (name: string) => void;
}) {
  const t = useT(m);
  return (
    <Modal open={state !== undefined} title={state?.mode === 'edit' ? t('categoryDialogEdit') : t('categoryDialogNew')} onClose={onClose}>
      {state && (
        <CategoryForm key={state.mode === 'edit' ? state.category.sid : 'new'} state={state} categories={categories} onClose={onClose} onSaved={onSaved} />
      )}
    </Modal>
  );
}

function CategoryForm({
  state,
  categories,
  onClose,
  onSaved,
}: {
  state: { mode: 'new' } | { mode: 'edit'; category: Category };
  categories: Category[];
  onClose: () => void;
  onSaved: (name: string) => void;
}) {
  const t = useT(m);
  const c = useT(common);
  const editing = state.mode === 'edit' ? state.category : undefined;
  const [name, setName] = useState(editing?.name ?? '');
  const [parent, setParent] = useState(String(editing?.parentSid ?? -1));
  const save = useMutation({
    mutationFn: async () => {
      if (!editing) return unwrap(await api.POST('/category', { body: { categoryName: name, parentSid: Number(parent) } }));
      const body: { categoryName: string; parentSid?: number } = { categoryName: name };
      if (parent !== String(editing.parentSid)) body.parentSid = Number(parent);
      return unwrap(await api.PUT('/category/{categorySid}/name-location', { params: { path: { categorySid: String(editing.sid) } }, body }));
    },
    onSuccess: (cat) => onSaved(cat.name),
  });
  const err = save.error instanceof ApiError ? save.error : undefined;
  const nameError = err && err.field !== 'parentSid' ? err.message : '';
  const parentError = err?.field === 'parentSid' ? err.message : '';
  return (
    <form
      className="form-grid"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      <label>
        {t('categoryName')}
        <input
          required
          maxLength={100}
          value={name}
          onChange={(e) => setName(e.target.value)}
          aria-invalid={nameError ? true : undefined}
          aria-describedby="cat-name-hint cat-name-error"
        />
        <span id="cat-name-hint" className="hint">
          {t('nameHint')}
        </span>
        <span id="cat-name-error" className="field-error">
          {nameError}
        </span>
      </label>
      <label>
        {t('parentCategory')}
        <select value={parent} onChange={(e) => setParent(e.target.value)} aria-invalid={parentError ? true : undefined} aria-describedby="cat-parent-error">
          <CategoryOptions categories={categories} exclude={editing ? subtreeSids(categories, editing.sid) : undefined} />
        </select>
        <span id="cat-parent-error" className="field-error">
          {parentError}
        </span>
      </label>
      <div className="dialog-actions">
        <button type="button" onClick={onClose}>
          {c('cancel')}
        </button>
        <button type="submit" className="primary" disabled={save.isPending}>
          {c('save')}
        </button>
      </div>
    </form>
  );
}

function Backups({ onRestored }: { onRestored: () => void }) {
  const t = useT(m);
  const qc = useQueryClient();
  const [notice, setNotice] = useState('');
  const [fileError, setFileError] = useState('');
  const fileRef = useRef<HTMLInputElement>(null);
  const list = useQuery({
    queryKey: BACKUPS,
    queryFn: async () => unwrap(await api.GET('/template/export', { params: { query: { page: 0, size: 10 } } })),
    // A backup is written by a job: poll while one is pending or being created.
    refetchInterval: (q) => (q.state.data?.content.some((b) => ['R', 'I'].includes(b.statusCode.code)) ? 1000 : false),
  });
  const request = useMutation({
    mutationFn: async () => unwrap(await api.POST('/template/export/request')),
    onSuccess: () => {
      setNotice(t('backupRequested'));
      void qc.invalidateQueries({ queryKey: BACKUPS });
    },
  });
  const restore = useMutation({
    mutationFn: async (file: File) => {
      const form = new FormData();
      form.append('file', file);
      return unwrap(await api.POST('/template/import', { body: {} as never, bodySerializer: () => form }));
    },
    onSuccess: () => {
      setNotice(t('restored'));
      if (fileRef.current) fileRef.current.value = '';
      onRestored();
    },
  });
  const submitRestore = (e: FormEvent) => {
    e.preventDefault();
    const file = fileRef.current?.files?.[0];
    if (!file) return setFileError(t('fileRequired'));
    setFileError('');
    restore.mutate(file);
  };
  const rows = list.data?.content ?? [];
  return (
    <section className="card manage-block" aria-labelledby="tpl-backup">
      <h2 id="tpl-backup">{t('backupTitle')}</h2>
      <p className="hint">{t('backupLead')}</p>
      <div className="toolbar">
        <button type="button" className="primary" onClick={() => request.mutate()} disabled={request.isPending}>
          {t('requestBackup')}
        </button>
      </div>
      <ErrorMessage error={request.error ?? list.error} />
      <div className="table-wrap">
        <table className="list">
          <caption className="visually-hidden">{t('backupTitle')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('requestDate')}</th>
              <th scope="col">{t('status')}</th>
              <th scope="col">{t('completeDate')}</th>
              <th scope="col">{t('file')}</th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 && !list.isPending ? (
              <tr>
                <td colSpan={4}>{t('noBackups')}</td>
              </tr>
            ) : (
              rows.map((b) => (
                <tr key={b.sid}>
                  <td>{shortDate(b.requestUtc)}</td>
                  <td>
                    <span className="status">{b.statusCode.label}</span>
                  </td>
                  <td>{shortDate(b.completeUtc)}</td>
                  <td>
                    {b.statusCode.code === 'C' && (
                      <a href={`/api/v1/template/export/${b.sid}`} download aria-label={t('downloadLabel', { sid: b.sid })}>
                        {t('download')}
                      </a>
                    )}
                  </td>
                </tr>
              ))
            )}
          </tbody>
        </table>
      </div>
      <form className="row" onSubmit={submitRestore} aria-label={t('restore')}>
        <label>
          {t('restoreFile')}
          <input ref={fileRef} type="file" accept=".json,application/json" aria-invalid={fileError ? true : undefined} aria-describedby="tpl-file-error" />
          <span id="tpl-file-error" className="field-error">
            {fileError}
          </span>
        </label>
        <button type="submit" disabled={restore.isPending}>
          {t('restore')}
        </button>
      </form>
      <ErrorMessage error={restore.error} />
      <Notice text={notice} />
    </section>
  );
}
