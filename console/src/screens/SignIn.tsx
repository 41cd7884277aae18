import { type FormEvent, useState } from 'react';
import { ApiError } from '../api/client.ts';
import { type Session, signIn } from '../api/session.ts';
import { defineMessages, useT } from '../i18n/i18n.tsx';
import { LangPicker } from '../components/Layout.tsx';

const m = defineMessages({
  ja: {
    title: 'サインイン',
    lead: 'プロジェクトのアクセスキーとシークレットキーでサインインします。',
    accessKey: 'アクセスキー',
    secretKey: 'シークレットキー',
    submit: 'サインイン',
    failed: 'アクセスキーまたはシークレットキーが正しくありません。',
    tooMany: '試行回数が多すぎます。しばらくしてから再度お試しください。',
  },
  ko: {
    title: '로그인',
    lead: '프로젝트의 액세스 키와 시크릿 키로 로그인합니다.',
    accessKey: '액세스 키',
    secretKey: '시크릿 키',
    submit: '로그인',
    failed: '액세스 키 또는 시크릿 키가 올바르지 않습니다.',
    tooMany: '시도 횟수가 너무 많습니다. 잠시 후 다시 시도하세요.',
  },
  en: {
    title: 'Sign in',
    lead: "Sign in with your project's access key and secret key.",
    accessKey: 'Access key',
    secretKey: 'Secret key',
    submit: 'Sign in',
    failed: 'The access key or secret key is not correct.',
    tooMany: 'Too many attempts. Try again in a moment.',
  },
});

export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const t = useT(m);
  const [accessKey, setAccessKey] = useState('');
  const [secretKey, setSecretKey] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const s = await signIn(accessKey.trim(), secretKey.trim());
      if (s) onSignedIn(s);
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 429
          ? t('tooMany')
          : err instanceof ApiError && err.status === 401
            ? t('failed')
            : String((err as Error).message),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="signin">
      <div className="signin-lang">
        <LangPicker />
      </div>
      <form onSubmit={submit} className="card signin-card" aria-labelledby="signin-title">
        <h1 id="signin-title">{t('title')}</h1>
        <p>{t('lead')}</p>
        <label>
          {t('accessKey')}
          <input name="accessKey" autoComplete="username" required value={accessKey} onChange={(e) => setAccessKey(e.target.value)} />
        </label>
        <label>
          {t('secretKey')}
          <input name="secretKey" type="password" autoComplete="current-password" required value={secretKey} onChange={(e) => setSecretKey(e.target.value)} />
        </label>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {t('submit')}
        </button>
      </form>
    </main>
  );
}
