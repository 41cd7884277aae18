import type { ReactNode } from 'react';
import { LANGS, type Lang, useLang, useT } from '../i18n/i18n.tsx';
import { Link, useRouter } from '../router.tsx';
import { common } from './messages.ts';

const LANG_NAMES: Record<Lang, string> = { ja: '日本語', ko: '한국어', en: 'English' };

export function LangPicker() {
  const { lang, setLang } = useLang();
  const t = useT(common);
  return (
    <label className="lang-picker">
      <span className="visually-hidden">{t('language')}</span>
      <select value={lang} onChange={(e) => setLang(e.target.value as Lang)} aria-label={t('language')}>
        {LANGS.map((l) => (
          <option key={l} value={l} lang={l}>
            {LANG_NAMES[l]}
          </option>
        ))}
      </select>
    </label>
  );
}

const NAV = [
  ['/mails', 'navMails'],
  ['/send', 'navSend'],
  ['/templates', 'navTemplates'],
  ['/address-book', 'navAddressBook'],
  ['/unsubscribers', 'navUnsubscribers'],
  ['/send-block', 'navSendBlock'],
  ['/domains', 'navDomains'],
  ['/keys', 'navKeys'],
  ['/delivery', 'navDelivery'],
] as const;

export function Layout({ accessKey, onSignOut, children }: { accessKey: string; onSignOut: () => void; children: ReactNode }) {
  const t = useT(common);
  const { route } = useRouter();
  return (
    <div className="app">
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">{t('appName')}</span>
        <span className="who" title={accessKey}>
          {accessKey}
        </span>
        <LangPicker />
        <button type="button" onClick={onSignOut}>
          {t('signOut')}
        </button>
      </header>
      <nav className="sidenav" aria-label="Console">
        <ul>
          {NAV.map(([path, key]) => (
            <li key={path}>
              <Link to={path} aria-current={route.path === path || route.path.startsWith(`${path}/`) ? 'page' : undefined}>
                {t(key)}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" className="content" tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}
