import './manage.css';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import type { components } from '../../../../src/generated/api.ts';
import { api, unwrap } from '../../api/client.ts';
import { common } from '../../components/messages.ts';
import { useT } from '../../i18n/i18n.tsx';
import { m } from './domains.messages.ts';
import { ConfirmDialog, ErrorMessage, Notice, Pager, shortDate } from './shared.tsx';

type SenderDomain = components['schemas']['SenderDomain'];
type Algorithm = 'rsa-sha256' | 'ed25519-sha256';

const KEYS = ['sender-domains'] as const;
const path = (domain: string) => ({ params: { path: { domain } } });

/** Sender domains: add one, publish the records it shows, verify, rotate its key, delete. */
export default function Domains() {
  const t = useT(m);
  const c = useT(common);
  const qc = useQueryClient();
  const [page, setPage] = useState(0);
  const [domain, setDomain] = useState('');
  const [algorithm, setAlgorithm] = useState<Algorithm>('rsa-sha256');
  const [notice, setNotice] = useState('');
  const [deleting, setDeleting] = useState<string | undefined>();
  const [removingKey, setRemovingKey] = useState<{ domain: string; selector: string } | undefined>();

  const list = useQuery({
    queryKey: [...KEYS, page],
    queryFn: async () => unwrap(await api.GET('/domains', { params: { query: { page, size: 20 } } })),
  });
  const refresh = () => void qc.invalidateQueries({ queryKey: KEYS });
  const add = useMutation({
    mutationFn: async () => unwrap(await api.POST('/domains', { body: { domain: domain.trim(), algorithm } })),
    onSuccess: (d) => {
      setDomain('');
      setNotice(t('addedNotice', { domain: d.domain }));
      refresh();
    },
  });
  const verify = useMutation({
    mutationFn: async (name: string) => unwrap(await api.POST('/domains/{domain}/verify', path(name))),
    onSuccess: (d) => {
      setNotice(t('verifiedNotice', { domain: d.domain, status: d.status.label }));
      refresh();
    },
  });
  const rotate = useMutation({
    mutationFn: async (name: string) => unwrap(await api.POST('/domains/{domain}/rotate', { ...path(name), body: {} })),
    onSuccess: (d) => {
      setNotice(t('rotatedNotice', { domain: d.domain, selector: d.dkim.selector }));
      refresh();
    },
  });
  const remove = useMutation({
    mutationFn: async (name: string) => unwrap(await api.DELETE('/domains/{domain}', path(name))),
    onSuccess: (_, name) => {
      setDeleting(undefined);
      setNotice(t('deletedNotice', { domain: name }));
      refresh();
    },
  });
  const removeKey = useMutation({
    mutationFn: async (k: { domain: string; selector: string }) =>
      unwrap(await api.DELETE('/domains/{domain}/keys/{selector}', { params: { path: { domain: k.domain, selector: k.selector } } })),
    onSuccess: () => {
      setRemovingKey(undefined);
      refresh();
    },
  });

  const domains = list.data?.content ?? [];
  const busy = verify.isPending || rotate.isPending;
  return (
    <section className="manage" aria-labelledby="domains-title">
      <h1 id="domains-title">{t('title')}</h1>
      <p className="hint">{t('lead')}</p>

      <form
        className="card form-grid"
        aria-label={t('add')}
        onSubmit={(e) => {
          e.preventDefault();
          if (domain.trim()) add.mutate();
        }}
      >
        <label>
          {t('domain')}
          <input type="text" name="domain" value={domain} onChange={(e) => setDomain(e.target.value)} placeholder="example.com" autoComplete="off" required />
        </label>
        <label>
          {t('algorithm')}
          <select value={algorithm} onChange={(e) => setAlgorithm(e.target.value as Algorithm)}>
            <option value="rsa-sha256">{t('rsa')}</option>
            <option value="ed25519-sha256">{t('ed25519')}</option>
          </select>
        </label>
        <div className="row">
          <button type="submit" className="primary" disabled={add.isPending}>
            {t('add')}
          </button>
          <button type="button" onClick={() => void list.refetch()}>
            {c('refresh')}
          </button>
        </div>
        <ErrorMessage error={add.error} />
      </form>
      <Notice text={notice} />
      <ErrorMessage error={list.error ?? verify.error ?? rotate.error} />

      {list.isPending ? (
        <p>{c('loading')}</p>
      ) : domains.length === 0 ? (
        <p>{t('empty')}</p>
      ) : (
        domains.map((d) => (
          <DomainCard
            key={d.domain}
            d={d}
            busy={busy}
            onVerify={() => verify.mutate(d.domain)}
            onRotate={() => rotate.mutate(d.domain)}
            onDelete={() => setDeleting(d.domain)}
            onRemoveKey={(selector) => setRemovingKey({ domain: d.domain, selector })}
          />
        ))
      )}
      <Pager page={page} totalPages={list.data?.totalPages ?? 0} onPage={setPage} />

      <ConfirmDialog
        open={deleting !== undefined}
        message={t('deleteConfirm', { domain: deleting ?? '' })}
        confirmLabel={t('delete')}
        danger
        busy={remove.isPending}
        error={remove.error}
        onConfirm={() => deleting && remove.mutate(deleting)}
        onClose={() => {
          setDeleting(undefined);
          remove.reset();
        }}
      />
      <ConfirmDialog
        open={removingKey !== undefined}
        message={t('removeKeyConfirm', { selector: removingKey?.selector ?? '' })}
        confirmLabel={t('removeKey')}
        danger
        busy={removeKey.isPending}
        error={removeKey.error}
        onConfirm={() => removingKey && removeKey.mutate(removingKey)}
        onClose={() => {
          setRemovingKey(undefined);
          removeKey.reset();
        }}
      />
    </section>
  );
}

function DomainCard({
  d,
  busy,
  onVerify,
  onRotate,
  onDelete,
  onRemoveKey,
}: {
  d: SenderDomain;
  busy: boolean;
  onVerify: () => void;
  onRotate: () => void;
  onDelete: () => void;
  onRemoveKey: (selector: string) => void;
}) {
  const t = useT(m);
  const id = `domain-${d.domain.replace(/[^a-z0-9-]/g, '-')}`;
  const statusClass = d.status.code === 'V' ? 'status-on' : d.status.code === 'F' ? 'status-off' : 'status-current';
  return (
    <article className="card domain-card" aria-labelledby={id} data-domain={d.domain}>
      <h2 id={id} className="domain-title">
        {d.domain} <span className={`status ${statusClass}`}>{d.status.label}</span>
      </h2>
      <p className="hint">{d.checkDate ? t('checked', { date: shortDate(d.checkDate) }) : t('neverChecked')}</p>
      <div className="row">
        <button type="button" className="primary" onClick={onVerify} disabled={busy} aria-label={`${t('verify')} ${d.domain}`}>
          {t('verify')}
        </button>
        <button type="button" onClick={onRotate} disabled={busy} aria-label={`${t('rotate')} ${d.domain}`}>
          {t('rotate')}
        </button>
        <button type="button" className="danger" onClick={onDelete} aria-label={`${t('delete')} ${d.domain}`}>
          {t('delete')}
        </button>
      </div>
      <div className="table-wrap">
        <table className="list">
          <caption>{t('records')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('recordType')}</th>
              <th scope="col">{t('recordName')}</th>
              <th scope="col">{t('recordValue')}</th>
              <th scope="col">{t('status')}</th>
            </tr>
          </thead>
          <tbody>
            {d.dkimKeys.map((k) => (
              <tr key={k.selector}>
                <th scope="row">
                  {t('dkim')} ({k.algorithm})
                </th>
                <td className="mono">{k.dnsName}</td>
                <td className="mono record-value">{k.dnsValue}</td>
                <td>
                  <span className={`status ${k.status.code === 'V' ? 'status-on' : k.status.code === 'F' ? 'status-off' : 'status-current'}`}>
                    {k.status.label}
                  </span>
                  {k.signing && <span className="status status-current">{t('signing')}</span>}
                  {d.dkimKeys.length > 1 && !k.signing && (
                    <button type="button" className="small danger" onClick={() => onRemoveKey(k.selector)} aria-label={`${t('removeKey')} ${k.selector}`}>
                      {t('removeKey')}
                    </button>
                  )}
                </td>
              </tr>
            ))}
            <tr>
              <th scope="row">{t('spf')}</th>
              <td className="mono">{d.spf.dnsName}</td>
              <td className="mono record-value">{d.spf.dnsValue}</td>
              <td>{d.checkDate ? (d.spf.found ? t('found') : t('notFound')) : ''}</td>
            </tr>
            <tr>
              <th scope="row">{t('dmarc')}</th>
              <td className="mono">{d.dmarc.dnsName}</td>
              <td className="mono record-value">{d.dmarc.dnsValue}</td>
              <td>{d.checkDate ? (d.dmarc.found ? t('found') : t('notFound')) : ''}</td>
            </tr>
          </tbody>
        </table>
      </div>
    </article>
  );
}
