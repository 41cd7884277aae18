import './manage.css';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import type { components } from '../../../../src/generated/api.ts';
import { api, unwrap } from '../../api/client.ts';
import { common } from '../../components/messages.ts';
import { useT } from '../../i18n/i18n.tsx';
import { m } from './access-keys.messages.ts';
import { ConfirmDialog, ErrorMessage, Modal, Notice, shortDate } from './shared.tsx';

type AccessKeyCreated = components['schemas']['AccessKeyCreated'];

const KEYS = ['access-keys'] as const;

/** The signed-in project's access keys: list, create (the secret shown once), revoke. */
export default function AccessKeys() {
  const t = useT(m);
  const c = useT(common);
  const qc = useQueryClient();
  const [created, setCreated] = useState<AccessKeyCreated | undefined>();
  const [revoking, setRevoking] = useState<string | undefined>();
  const [notice, setNotice] = useState('');

  const list = useQuery({ queryKey: KEYS, queryFn: async () => unwrap(await api.GET('/access-keys')) });
  const create = useMutation({
    mutationFn: async () => unwrap(await api.POST('/access-keys')),
    onSuccess: (key) => {
      setCreated(key);
      setNotice(t('createdNotice', { key: key.accessKey }));
      void qc.invalidateQueries({ queryKey: KEYS });
    },
  });
  const revoke = useMutation({
    mutationFn: async (accessKey: string) => unwrap(await api.DELETE('/access-keys/{accessKey}', { params: { path: { accessKey } } })),
    onSuccess: (key) => {
      setRevoking(undefined);
      setNotice(t('revokedNotice', { key: key.accessKey }));
      void qc.invalidateQueries({ queryKey: KEYS });
    },
  });

  const keys = list.data?.content ?? [];
  return (
    <section className="manage" aria-labelledby="keys-title">
      <h1 id="keys-title">{t('title')}</h1>
      <p className="hint">{t('lead')}</p>
      <div className="toolbar">
        <button type="button" className="primary" onClick={() => create.mutate()} disabled={create.isPending}>
          {t('create')}
        </button>
        <button type="button" onClick={() => void list.refetch()}>
          {c('refresh')}
        </button>
      </div>
      <Notice text={notice} />
      <ErrorMessage error={list.error ?? create.error} />
      {list.isPending ? (
        <p>{c('loading')}</p>
      ) : (
        <div className="table-wrap">
          <table className="list">
            <caption className="visually-hidden">{t('title')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('accessKey')}</th>
                <th scope="col">{t('secretHint')}</th>
                <th scope="col">{t('createDate')}</th>
                <th scope="col">{t('state')}</th>
                <th scope="col">{t('actions')}</th>
              </tr>
            </thead>
            <tbody>
              {keys.map((k) => (
                <tr key={k.accessKey} data-key={k.accessKey}>
                  <td className="mono">{k.accessKey}</td>
                  <td className="mono">…{k.secretKeyHint}</td>
                  <td>{shortDate(k.createDate)}</td>
                  <td>
                    <span className={`status ${k.revoked ? 'status-off' : 'status-on'}`}>
                      {k.revoked ? t('revokedAt', { date: shortDate(k.revokeDate) }) : t('active')}
                    </span>
                    {k.inUse && <span className="status status-current">{t('inUse')}</span>}
                  </td>
                  <td>
                    {!k.revoked &&
                      (k.inUse ? (
                        <span className="hint">{t('cannotRevokeInUse')}</span>
                      ) : (
                        <button type="button" className="danger" onClick={() => setRevoking(k.accessKey)} aria-label={`${t('revoke')} ${k.accessKey}`}>
                          {t('revoke')}
                        </button>
                      ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <Modal open={created !== undefined} title={t('createdTitle')} onClose={() => setCreated(undefined)} className="secret-dialog">
        {created && (
          <>
            <p className="warning" role="note">
              {t('createdWarning')}
            </p>
            <dl className="key-pair">
              <dt>{t('accessKey')}</dt>
              <dd>
                <output className="mono" aria-label={t('accessKey')}>
                  {created.accessKey}
                </output>{' '}
                <CopyButton text={created.accessKey} label={`${t('copy')}: ${t('accessKey')}`} />
              </dd>
              <dt>{t('secretKey')}</dt>
              <dd>
                <output className="mono" aria-label={t('secretKey')}>
                  {created.secretKey}
                </output>{' '}
                <CopyButton text={created.secretKey} label={`${t('copy')}: ${t('secretKey')}`} />
              </dd>
            </dl>
            <div className="dialog-actions">
              <button type="button" className="primary" onClick={() => setCreated(undefined)}>
                {c('close')}
              </button>
            </div>
          </>
        )}
      </Modal>

      <ConfirmDialog
        open={revoking !== undefined}
        message={t('revokeConfirm', { key: revoking ?? '' })}
        confirmLabel={t('revoke')}
        danger
        busy={revoke.isPending}
        error={revoke.error}
        onConfirm={() => revoking && revoke.mutate(revoking)}
        onClose={() => {
          setRevoking(undefined);
          revoke.reset();
        }}
      />
    </section>
  );
}

function CopyButton({ text, label }: { text: string; label: string }) {
  const t = useT(m);
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      aria-label={label}
      onClick={() => {
        void navigator.clipboard?.writeText(text).then(
          () => setDone(true),
          () => undefined,
        );
      }}
    >
      {done ? t('copied') : t('copy')}
    </button>
  );
}
