import './manage.css';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { api, unwrap } from '../../api/client.ts';
import { common } from '../../components/messages.ts';
import { useT } from '../../i18n/i18n.tsx';
import { m } from './send-block.messages.ts';
import { ConfirmDialog, ErrorMessage, Notice, Pager, shortDate, splitList } from './shared.tsx';

const PAGE_SIZE = 20;
const CONFIG_KEY = ['config', 'SEND_BLOCK_TIME'] as const;

/** The send-block list (lookup by address) and its period, and the project's blocked domains. */
export default function SendBlock() {
  const t = useT(m);
  return (
    <section className="manage" aria-labelledby="sendblock-title">
      <h1 id="sendblock-title">{t('title')}</h1>
      <p className="hint">{t('lead')}</p>
      <Setting />
      <Lookup />
      <BlockedDomains />
    </section>
  );
}

function Setting() {
  const t = useT(m);
  const c = useT(common);
  const qc = useQueryClient();
  const [value, setValue] = useState('');
  const [unit, setUnit] = useState<'HOUR' | 'DAY'>('HOUR');
  const [notice, setNotice] = useState('');
  const config = useQuery({ queryKey: CONFIG_KEY, queryFn: async () => unwrap(await api.GET('/config', { params: { query: { type: 'SEND_BLOCK_TIME' } } })) });
  const save = useMutation({
    mutationFn: async () => unwrap(await api.POST('/config', { body: { type: 'SEND_BLOCK_TIME', value: value.trim(), unit } })),
    onSuccess: (saved) => {
      setNotice(t('settingSaved', { hours: saved.value }));
      setValue('');
      qc.setQueryData(CONFIG_KEY, saved);
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };
  return (
    <form className="card form-grid" aria-labelledby="sendblock-setting" onSubmit={submit}>
      <h2 id="sendblock-setting">{t('settingTitle')}</h2>
      <p data-testid="send-block-current">{config.data ? t('current', { hours: config.data.value }) : c('loading')}</p>
      <div className="row">
        <label>
          {t('value')}
          <input
            type="number"
            min={1}
            required
            value={value}
            onChange={(e) => setValue(e.target.value)}
            aria-describedby="sendblock-setting-hint"
            aria-invalid={save.error ? true : undefined}
          />
        </label>
        <label>
          {t('unit')}
          <select value={unit} onChange={(e) => setUnit(e.target.value as 'HOUR' | 'DAY')}>
            <option value="HOUR">{t('hour')}</option>
            <option value="DAY">{t('day')}</option>
          </select>
        </label>
        <button type="submit" className="primary" disabled={save.isPending}>
          {c('save')}
        </button>
      </div>
      <span id="sendblock-setting-hint" className="hint">
        {t('settingHint')}
      </span>
      <ErrorMessage error={save.error ?? config.error} />
      <Notice text={notice} />
    </form>
  );
}

function Lookup() {
  const t = useT(m);
  const [draft, setDraft] = useState('');
  const [address, setAddress] = useState('');
  const [page, setPage] = useState(0);
  const history = useQuery({
    queryKey: ['send-block', address, page],
    enabled: address !== '',
    placeholderData: keepPreviousData,
    queryFn: async () => unwrap(await api.GET('/send-block', { params: { query: { targetAddress: address, page, size: PAGE_SIZE } } })),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setPage(0);
    // Looking up the same address again asks again: the address may have been blocked since.
    if (draft.trim() === address) void history.refetch();
    else setAddress(draft.trim());
  };
  const data = history.data;
  return (
    <div className="card manage-block">
      <h2 id="sendblock-lookup">{t('lookupTitle')}</h2>
      <form className="row" onSubmit={submit} aria-labelledby="sendblock-lookup">
        <label>
          {t('targetAddress')}
          <input type="email" required value={draft} onChange={(e) => setDraft(e.target.value)} />
        </label>
        <button type="submit" className="primary">
          {t('lookup')}
        </button>
      </form>
      <ErrorMessage error={history.error} />
      {data && address && (
        <div className="send-block-result" aria-live="polite">
          <p>
            <strong>{address}</strong> — {t('state', { state: data.registerStatus })}
            {data.expectedDeleteDate && <> / {t('expected', { date: shortDate(data.expectedDeleteDate) })}</>}
          </p>
          {data.content.length === 0 ? (
            <p>{t('noHistory')}</p>
          ) : (
            <div className="table-wrap">
              <table className="list">
                <caption className="visually-hidden">{t('lookupTitle')}</caption>
                <thead>
                  <tr>
                    <th scope="col">{t('requestDate')}</th>
                    <th scope="col">{t('actionType')}</th>
                    <th scope="col">{t('requester')}</th>
                    <th scope="col">{t('resultCode')}</th>
                    <th scope="col">{t('resultMessage')}</th>
                  </tr>
                </thead>
                <tbody>
                  {data.content.map((h) => (
                    <tr key={h.historySid}>
                      <td>{shortDate(h.requestDate)}</td>
                      <td>{h.actionType.label}</td>
                      <td>{h.actionRequesterType.label}</td>
                      <td>{h.sendResultCode ?? ''}</td>
                      <td>{h.sendResultMessage ?? ''}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <Pager page={data.number} totalPages={data.totalPages} onPage={setPage} />
        </div>
      )}
    </div>
  );
}

function BlockedDomains() {
  const t = useT(m);
  const c = useT(common);
  const qc = useQueryClient();
  const [text, setText] = useState('');
  const [textError, setTextError] = useState('');
  const [notice, setNotice] = useState('');
  const [draft, setDraft] = useState('');
  const [filter, setFilter] = useState('');
  const [page, setPage] = useState(0);
  const [removing, setRemoving] = useState<string | undefined>();
  const list = useQuery({
    queryKey: ['blocked-domains', filter, page],
    placeholderData: keepPreviousData,
    queryFn: async () => unwrap(await api.GET('/blocked-domains', { params: { query: { domain: filter || undefined, page, size: PAGE_SIZE } } })),
  });
  const refresh = () => void qc.invalidateQueries({ queryKey: ['blocked-domains'] });
  const add = useMutation({
    mutationFn: async (domains: string[]) => unwrap(await api.POST('/blocked-domains', { body: { domains } })),
    onSuccess: (r) => {
      setNotice(t('domainsAdded', { count: r.count, ignored: r.ignoreCount }));
      setText('');
      refresh();
    },
  });
  const remove = useMutation({
    mutationFn: async (domain: string) => unwrap(await api.DELETE('/blocked-domains', { body: { domains: [domain] } })),
    onSuccess: (r) => {
      setNotice(t('domainsRemoved', { count: r.count }));
      setRemoving(undefined);
      refresh();
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const domains = splitList(text);
    if (domains.length === 0) {
      setTextError(t('domainsRequired'));
      return;
    }
    setTextError('');
    add.mutate(domains);
  };
  const rows = list.data?.content ?? [];
  return (
    <div className="card manage-block">
      <h2 id="sendblock-domains">{t('domainsTitle')}</h2>
      <p className="hint">{t('domainsLead')}</p>
      <form className="form-grid" onSubmit={submit} aria-labelledby="sendblock-domains">
        <label>
          {t('domains')}
          <textarea
            rows={2}
            value={text}
            onChange={(e) => setText(e.target.value)}
            aria-describedby="domains-hint domains-error"
            aria-invalid={textError || add.error ? true : undefined}
          />
          <span id="domains-hint" className="hint">
            {t('domainsHint')}
          </span>
          <span id="domains-error" className="field-error">
            {textError}
          </span>
        </label>
        <div className="row">
          <button type="submit" className="primary" disabled={add.isPending}>
            {t('addDomains')}
          </button>
        </div>
        <ErrorMessage error={add.error} />
      </form>
      <Notice text={notice} />
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          setPage(0);
          setFilter(draft.trim());
        }}
        aria-label={`${t('domainsTitle')} ${c('search')}`}
      >
        <label>
          {t('domainFilter')}
          <input type="search" value={draft} onChange={(e) => setDraft(e.target.value)} />
        </label>
        <button type="submit">{c('search')}</button>
        <span>{list.data ? c('totalCount', { n: list.data.totalElements }) : ''}</span>
      </form>
      <ErrorMessage error={list.error} />
      <div className="table-wrap">
        <table className="list">
          <caption className="visually-hidden">{t('domainsTitle')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('domain')}</th>
              <th scope="col">{t('createDate')}</th>
              <th scope="col">{t('actions')}</th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 && !list.isPending ? (
              <tr>
                <td colSpan={3}>{t('noDomains')}</td>
              </tr>
            ) : (
              rows.map((d) => (
                <tr key={d.domain}>
                  <td>{d.domain}</td>
                  <td>{shortDate(d.createDate)}</td>
                  <td>
                    <button type="button" className="danger" onClick={() => setRemoving(d.domain)} aria-label={`${t('removeDomain')} ${d.domain}`}>
                      {t('removeDomain')}
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
        message={t('removeDomainConfirm', { domain: removing ?? '' })}
        confirmLabel={t('removeDomain')}
        danger
        busy={remove.isPending}
        error={remove.error}
        onConfirm={() => removing && remove.mutate(removing)}
        onClose={() => {
          setRemoving(undefined);
          remove.reset();
        }}
      />
    </div>
  );
}
