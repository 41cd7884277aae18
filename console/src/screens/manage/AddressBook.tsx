import './manage.css';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { api, unwrap } from '../../api/client.ts';
import { common } from '../../components/messages.ts';
import { useT } from '../../i18n/i18n.tsx';
import { m } from './address-book.messages.ts';
import { ConfirmDialog, ErrorMessage, manageShared, Modal, Notice, splitList } from './shared.tsx';

const BOOK = ['address-book'] as const;

type GroupAction = { kind: 'add' | 'remove' | 'empty' | 'delete'; group: string };

/** Address book: totals, groups (create, add/remove addresses, empty, delete, download), addresses, delete all. */
export default function AddressBook() {
  const t = useT(m);
  const c = useT(common);
  const s = useT(manageShared);
  const qc = useQueryClient();
  const [notice, setNotice] = useState('');
  const [group, setGroup] = useState('');
  const [text, setText] = useState('');
  const [formError, setFormError] = useState<{ field: 'group' | 'text'; message: string } | undefined>();
  const [deleteText, setDeleteText] = useState('');
  const [deleteError, setDeleteError] = useState('');
  const [action, setAction] = useState<GroupAction | undefined>();
  const [actionText, setActionText] = useState('');
  const [actionError, setActionError] = useState('');
  const [confirmAll, setConfirmAll] = useState(false);

  const book = useQuery({ queryKey: BOOK, queryFn: async () => unwrap(await api.GET('/address-book')) });
  const refresh = () => void qc.invalidateQueries({ queryKey: BOOK });

  const add = useMutation({
    mutationFn: async (v: { group: string; addresses: string[] }) =>
      unwrap(await api.POST('/address-book', { body: { groups: [{ groupName: v.group, emailAddresses: v.addresses.length ? v.addresses : null }] } })),
    onSettled: refresh,
  });
  const deleteAddresses = useMutation({
    mutationFn: async (addresses: string[]) => unwrap(await api.DELETE('/address-book/address', { body: { emailAddresses: addresses } })),
    onSuccess: () => {
      setDeleteText('');
      setNotice(t('done'));
    },
    onSettled: refresh,
  });
  const deleteAll = useMutation({
    mutationFn: async () => unwrap(await api.DELETE('/address-book')),
    onSuccess: (r) => {
      setConfirmAll(false);
      setNotice(t('deletedAll', { n: r.deletedAddressCount }));
    },
    onSettled: refresh,
  });
  const groupAction = useMutation({
    mutationFn: async ({ a, addresses }: { a: GroupAction; addresses: string[] }) => {
      const groupName = a.group;
      if (a.kind === 'add') return unwrap(await api.POST('/address-book', { body: { groups: [{ groupName, emailAddresses: addresses }] } }));
      if (a.kind === 'remove') return unwrap(await api.DELETE('/address-book/recipient-groups/address', { body: { groupName, emailAddresses: addresses } }));
      if (a.kind === 'empty') return unwrap(await api.DELETE('/address-book/recipient-groups/address/empty', { params: { query: { groupName } } }));
      return unwrap(await api.DELETE('/address-book/recipient-groups', { params: { query: { groupName } } }));
    },
    onSuccess: () => {
      closeAction();
      setNotice(t('done'));
    },
    onSettled: refresh,
  });

  const closeAction = () => {
    setAction(undefined);
    setActionText('');
    setActionError('');
    groupAction.reset();
  };

  const submitAdd = (e: FormEvent) => {
    e.preventDefault();
    if (!group.trim()) return setFormError({ field: 'group', message: t('groupRequired') });
    setFormError(undefined);
    const name = group.trim();
    add.mutate(
      { group: name, addresses: splitList(text) },
      {
        onSuccess: () => {
          setNotice(t('addedNotice', { group: name }));
          setGroup('');
          setText('');
        },
      },
    );
  };
  const submitDelete = (e: FormEvent) => {
    e.preventDefault();
    const addresses = splitList(deleteText);
    if (!addresses.length) return setDeleteError(t('required'));
    setDeleteError('');
    deleteAddresses.mutate(addresses);
  };
  const submitAction = (e: FormEvent) => {
    e.preventDefault();
    if (!action) return;
    const addresses = splitList(actionText);
    if (!addresses.length) return setActionError(t('required'));
    setActionError('');
    groupAction.mutate({ a: action, addresses });
  };

  // The API's message names the field: "groups[0].groupName: ..." or "groups[0].emailAddresses[1]: ...".
  const addFieldError = add.error ? (/groupName/.test(add.error.message) ? 'group' : 'text') : undefined;
  const groups = book.data?.groups ?? [];
  return (
    <section className="manage" aria-labelledby="ab-title">
      <h1 id="ab-title">{t('title')}</h1>
      <p className="hint">{t('lead')}</p>
      <div className="toolbar">
        <strong data-testid="address-total">{book.data ? t('total', { n: book.data.totalAddressCount }) : c('loading')}</strong>
        <span className="spacer" />
        <button type="button" onClick={refresh}>
          {c('refresh')}
        </button>
        <button type="button" className="danger" onClick={() => setConfirmAll(true)}>
          {t('deleteAll')}
        </button>
      </div>
      <Notice text={notice} />
      <ErrorMessage error={book.error} />

      <form className="card form-grid" onSubmit={submitAdd} aria-labelledby="ab-add">
        <h2 id="ab-add">{t('addTitle')}</h2>
        <label>
          {t('groupName')}
          <input
            value={group}
            onChange={(e) => setGroup(e.target.value)}
            maxLength={100}
            aria-describedby="ab-group-hint ab-group-error"
            aria-invalid={formError?.field === 'group' || addFieldError === 'group' ? true : undefined}
          />
          <span id="ab-group-hint" className="hint">
            {t('groupNameHint')}
          </span>
          <span id="ab-group-error" className="field-error">
            {formError?.field === 'group' ? formError.message : addFieldError === 'group' ? add.error?.message : ''}
          </span>
        </label>
        <label>
          {t('addressesOptional')}
          <textarea
            rows={3}
            value={text}
            onChange={(e) => setText(e.target.value)}
            aria-describedby="ab-text-hint ab-text-error"
            aria-invalid={addFieldError === 'text' ? true : undefined}
          />
          <span id="ab-text-hint" className="hint">
            {s('listHint')}
          </span>
          <span id="ab-text-error" className="field-error">
            {addFieldError === 'text' ? add.error?.message : ''}
          </span>
        </label>
        <div className="row">
          <button type="submit" className="primary" disabled={add.isPending}>
            {t('add')}
          </button>
        </div>
      </form>

      <h2 id="ab-groups">{t('groupsTitle')}</h2>
      <div className="table-wrap">
        <table className="list" aria-labelledby="ab-groups">
          <thead>
            <tr>
              <th scope="col">{t('groupName')}</th>
              <th scope="col">{t('addressCount')}</th>
              <th scope="col">{t('actions')}</th>
            </tr>
          </thead>
          <tbody>
            {groups.length === 0 && !book.isPending ? (
              <tr>
                <td colSpan={3}>{t('noGroups')}</td>
              </tr>
            ) : (
              groups.map((g) => (
                <tr key={g.sid} data-group={g.groupName}>
                  <th scope="row">{g.groupName}</th>
                  <td>{g.addressCount}</td>
                  <td className="actions">
                    <button type="button" onClick={() => setAction({ kind: 'add', group: g.groupName })} aria-label={`${t('addTo')}: ${g.groupName}`}>
                      {t('addTo')}
                    </button>
                    <button type="button" onClick={() => setAction({ kind: 'remove', group: g.groupName })} aria-label={`${t('removeFrom')}: ${g.groupName}`}>
                      {t('removeFrom')}
                    </button>
                    <button type="button" onClick={() => setAction({ kind: 'empty', group: g.groupName })} aria-label={`${t('empty')}: ${g.groupName}`}>
                      {t('empty')}
                    </button>
                    <button
                      type="button"
                      className="danger"
                      onClick={() => setAction({ kind: 'delete', group: g.groupName })}
                      aria-label={`${t('deleteGroup')}: ${g.groupName}`}
                    >
                      {t('deleteGroup')}
                    </button>
                    {g.addressCount > 0 && (
                      <a
                        href={`/api/v1/address-book/combination?andFilter=false&groups=${encodeURIComponent(g.groupName)}`}
                        download
                        aria-label={t('downloadLabel', { group: g.groupName })}
                      >
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

      <form className="card form-grid manage-block" onSubmit={submitDelete} aria-labelledby="ab-delete">
        <h2 id="ab-delete">{t('deleteTitle')}</h2>
        <label>
          {t('addresses')}
          <textarea
            rows={2}
            value={deleteText}
            onChange={(e) => setDeleteText(e.target.value)}
            aria-describedby="ab-delete-hint ab-delete-error"
            aria-invalid={deleteError ? true : undefined}
          />
          <span id="ab-delete-hint" className="hint">
            {t('deleteHint')} {s('listHint')}
          </span>
          <span id="ab-delete-error" className="field-error">
            {deleteError}
          </span>
        </label>
        <ErrorMessage error={deleteAddresses.error} />
        <div className="row">
          <button type="submit" className="danger" disabled={deleteAddresses.isPending}>
            {t('deleteAddresses')}
          </button>
        </div>
      </form>

      <Modal
        open={action?.kind === 'add' || action?.kind === 'remove'}
        title={action ? t(action.kind === 'add' ? 'addToTitle' : 'removeFromTitle', { group: action.group }) : ''}
        onClose={closeAction}
      >
        <form onSubmit={submitAction} className="form-grid">
          {action?.kind === 'remove' && <p className="hint">{t('removeFromHint')}</p>}
          <label>
            {t('addresses')}
            <textarea
              rows={4}
              value={actionText}
              onChange={(e) => setActionText(e.target.value)}
              aria-describedby="ab-action-hint ab-action-error"
              aria-invalid={actionError ? true : undefined}
            />
            <span id="ab-action-hint" className="hint">
              {s('listHint')}
            </span>
            <span id="ab-action-error" className="field-error">
              {actionError}
            </span>
          </label>
          <ErrorMessage error={groupAction.error} />
          <div className="dialog-actions">
            <button type="button" onClick={closeAction}>
              {c('cancel')}
            </button>
            <button type="submit" className={action?.kind === 'remove' ? 'danger' : 'primary'} disabled={groupAction.isPending}>
              {action?.kind === 'remove' ? t('removeFromButton') : t('add')}
            </button>
          </div>
        </form>
      </Modal>

      <ConfirmDialog
        open={action?.kind === 'empty' || action?.kind === 'delete'}
        message={action ? t(action.kind === 'empty' ? 'emptyConfirm' : 'deleteGroupConfirm', { group: action.group }) : ''}
        confirmLabel={action?.kind === 'empty' ? t('empty') : t('deleteGroup')}
        danger
        busy={groupAction.isPending}
        error={groupAction.error}
        onConfirm={() => action && groupAction.mutate({ a: action, addresses: [] })}
        onClose={closeAction}
      />
      <ConfirmDialog
        open={confirmAll}
        message={t('deleteAllConfirm')}
        confirmLabel={t('deleteAll')}
        danger
        busy={deleteAll.isPending}
        error={deleteAll.error}
        onConfirm={() => deleteAll.mutate()}
        onClose={() => {
          setConfirmAll(false);
          deleteAll.reset();
        }}
      />
    </section>
  );
}
