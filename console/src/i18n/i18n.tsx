import { createContext, type ReactNode, useCallback, useContext, useMemo, useState } from 'react';

export const LANGS = ['ja', 'ko', 'en'] as const;
export type Lang = (typeof LANGS)[number];

/** The x-ncp-lang value that makes the API answer its error messages in this language. */
export const API_LANG: Record<Lang, string> = { ja: 'ja-JP', ko: 'ko-KR', en: 'en-US' };

/**
 * A screen's texts in the three languages. Japanese is the source (the guide is Japanese);
 * Korean and English must have exactly its keys, so a missing translation fails typecheck.
 * `{name}` in a text is replaced by the value of that name.
 */
export type Messages<K extends string> = { ja: Record<K, string>; ko: Record<K, string>; en: Record<K, string> };
export function defineMessages<K extends string>(m: Messages<K>): Messages<K> {
  return m;
}

const STORAGE_KEY = 'om.lang';

function initialLang(): Lang {
  const stored = localStorage.getItem(STORAGE_KEY);
  if (stored && (LANGS as readonly string[]).includes(stored)) return stored as Lang;
  const nav = navigator.language.slice(0, 2);
  return (LANGS as readonly string[]).includes(nav) ? (nav as Lang) : 'ja';
}

const LangContext = createContext<{ lang: Lang; setLang: (l: Lang) => void }>({ lang: 'ja', setLang: () => {} });

export function LangProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(initialLang);
  const setLang = useCallback((l: Lang) => {
    localStorage.setItem(STORAGE_KEY, l);
    document.documentElement.lang = l;
    setLangState(l);
  }, []);
  document.documentElement.lang = lang;
  const value = useMemo(() => ({ lang, setLang }), [lang, setLang]);
  return <LangContext.Provider value={value}>{children}</LangContext.Provider>;
}

export function useLang() {
  return useContext(LangContext);
}

export function format(text: string, params?: Record<string, string | number>): string {
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m));
}

/** `t('key', {n: 3})` in the current language. */
export function useT<K extends string>(messages: Messages<K>) {
  const { lang } = useLang();
  return useCallback((key: K, params?: Record<string, string | number>) => format(messages[lang][key], params), [messages, lang]);
}
