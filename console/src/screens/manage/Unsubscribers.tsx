import './manage.css';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { api, unwrap } from '../../api/client.ts';
import { common } from '../../components/messages.ts';
import { useT } from '../../i18n/i18n.tsx';
import { ConfirmDialog, ErrorMessage, manageShared, Notice, Pager, shortDate, splitList } from './shared.tsx';
import { m } from './unsubscribers.messages.ts';

const PAGE_SIZE = 20;
type Filters = { emailAddress: string; isRegByManager: '' | 'true' | 'false'; startDateTime: string; endDateTime: string };
const NO_FILTERS: Filters = { emailAddress: '', isRegByManager: '', startDateTime: '', endDateTime: '' };

/** The project's unsubscribe list: search, add and remove addresses. */
export default function Unsubscribers() {
  const t = useT(m);
  const c = useT(common);
  const s = useT(manageShared);
  const qc = useQueryClient();
  const [text, setText] = useState('');
  const [textError, setTextError] = useState('');
  const [notice, setNotice] = useState('');
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [page, setPage] = useState(0);
  const [removing, setRemoving] = useState<string | undefined>();

  const list = useQuery({
    queryKey: ['unsubscribers', filters, page],
    placeholderData: keepPreviousData,
    queryFn: async () =>
      unwrap(
        await api.GET('/unsubscribers', {
          params: {
            query: {
              page,
              size: PAGE_SIZE,
              emailAddress: filters.emailAddress || undefined,
              isRegByManager: filters.isRegByManager === '' ? undefined : filters.isRegByManager === 'true',
              startDateTime: filters.startDateTime || undefined,
              endDateTime: filters.endDateTime || undefined,
            },
          },
        }),
      ),
  });
  const refresh = () => void qc.invalidateQueries({ queryKey: ['unsubscribers'] });

  const change = useMutation({
    mutationFn: async ({ op, addresses }: { op: 'add' | 'remove'; addresses: string[] }) => {
      const body = { blockedReceivers: addresses };
      return { op, result: unwrap(op === 'add' ? await api.POST('/unsubscribers', { body }) : await api.DELETE('/unsubscribers', { body })) };
    },
    onSuccess: ({ op, result }) => {
      setNotice(t(op === 'add' ? 'added' : 'removed', { count: result.count, ignored: result.ignoreCount }));
      setRemoving(undefined);
      refresh();
    },
  });

  const submit = (op: 'add' | 'remove') => {
    const addresses = splitList(text);
    if (addresses.length === 0) {
      setTextError(t('required'));
      return;
    }
    setTextError('');
    change.mutate({ op, addresses }, { onSuccess: () => setText('') });
  };
  const search = (e: FormEvent) => {
    e.preventDefault();
    setPage(0);
    setFilters(draft);
  };

  const rows = list.data?.content ?? [];
  return (
    <section className="manage" aria-labelledby="unsub-title">
      <h1 id="unsub-title">{t('title')}</h1>
      <p className="hint">{t('lead')}</p>

      <form
        className="card form-grid"
        aria-labelledby="unsub-add"
        onSubmit={(e) => {
          e.preventDefault();
          submit('add');
        }}
      >
        <h2 id="unsub-add">{t('addTitle')}</h2>
        <label>
          {t('addresses')}
          <textarea
            rows={3}
            value={text}
            onChange={(e) => setText(e.target.value)}
            aria-invalid={textError ? true : undefined}
            aria-describedby="unsub-text-hint unsub-text-error"
          />
          <span id="unsub-text-hint" className="hint">
            {s('listHint')}
          </span>
          <span id="unsub-text-error" className="field-error">
            {textError}
          </span>
        </label>
        <div className="row">
          <button type="submit" className="primary" disabled={change.isPending}>
            {t('add')}
          </button>
          <button type="button" className="danger" disabled={change.isPending} onClick={() => submit('remove')}>
            {t('remove')}
          </button>
        </div>
        <ErrorMessage error={removing ? undefined : change.error} />
      </form>
      <Notice text={notice} />

      <h2>{t('searchTitle')}</h2>
      <form className="search-grid card" onSubmit={search} aria-label={c('search')}>
        <label>
          {t('emailAddress')}
          <input type="search" value={draft.emailAddress} onChange={(e) => setDraft({ ...draft, emailAddress: e.target.value })} />
        </label>
        <label>
          {t('registeredBy')}
          <select value={draft.isRegByManager} onChange={(e) => setDraft({ ...draft, isRegByManager: e.target.value as Filters['isRegByManager'] })}>
            <option value="">{t('any')}</option>
            <option value="true">{t('byManager')}</option>
            <option value="false">{t('byRecipient')}</option>
          </select>
        </label>
        <label>
          {t('from')}
          <input type="date" value={draft.startDateTime} onChange={(e) => setDraft({ ...draft, startDateTime: e.target.value })} />
        </label>
        <label>
          {t('to')}
          <input type="date" value={draft.endDateTime} onChange={(e) => setDraft({ ...draft, endDateTime: e.target.value })} />
        </label>
        <div className="row">
          <button type="submit" className="primary">
            {c('search')}
          </button>
          <button
            type="button"
            onClick={() => {
              setDraft(NO_FILTERS);
              setFilters(NO_FILTERS);
              setPage(0);
            }}
          >
            {c('reset')}
          </button>
        </div>
      </form>

      <ErrorMessage error={list.error} />
      <div className="toolbar list-meta">
        <span>{list.data ? c('totalCount', { n: list.data.totalElements }) : ''}</span>
        <span className="spacer" />
        <button type="button" onClick={refresh}>
          {c('refresh')}
        </button>
      </div>
      <div className="table-wrap">
        <table className="list">
          <caption className="visually-hidden">{t('searchTitle')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('address')}</th>
              <th scope="col">{t('blockDate')}</th>
              <th scope="col">{t('registeredBy')}</th>
              <th scope="col">{t('actions')}</th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 && !list.isPending ? (
              <tr>
                <td colSpan={4}>{t('empty')}</td>
              </tr>
            ) : (
              rows.map((r) => (
                <tr key={r.address}>
                  <td>{r.address}</td>
                  <td>{shortDate(r.blockDate)}</td>
                  <td>{r.isRegByManager ? t('byManager') : t('byRecipient')}</td>
                  <td>
                    <button type="button" className="danger" onClick={() => setRemoving(r.address)} aria-label={`${t('removeOne')} ${r.address}`}>
                      {t('removeOne')}
                    </button>
                  </td>
                </tr>
              ))
            )}
          </tbody>
        </table>
      </div>
      <Pager page={list.data?.number ?? page} totalPages={list.data?.totalPages ?? 0} onPage={setPage} />

      <ConfirmDialog
        open={removing !== undefined}
        message={t('removeConfirm', { address: removing ?? '' })}
        confirmLabel={t('removeOne')}
        danger
        busy={change.isPending}
        error={change.error}
        onConfirm={() => removing && change.mutate({ op: 'remove', addresses: [removing] })}
        onClose={() => {
          setRemoving(undefined);
          change.reset();
        }}
      />
    </section>
  );
}
