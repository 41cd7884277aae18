import { useQueryClient } from '@tanstack/react-query';
import { lazy, startTransition, useEffect, useState } from 'react';
import { setApiLang, setOnUnauthorized } from './api/client.ts';
import { currentSession, type Session, SessionContext, signOut } from './api/session.ts';
import { Layout } from './components/Layout.tsx';
import { common } from './components/messages.ts';
import { useLang, useT } from './i18n/i18n.tsx';
import { useRouter } from './router.tsx';
import { SignIn } from './screens/SignIn.tsx';

// Each screen is its own chunk: the sign-in page loads only what it needs.
const MailingList = lazy(() => import('./screens/mailing-list/MailingList.tsx'));
const Send = lazy(() => import('./screens/send/Send.tsx'));
const Templates = lazy(() => import('./screens/manage/Templates.tsx'));
const AddressBook = lazy(() => import('./screens/manage/AddressBook.tsx'));
const Unsubscribers = lazy(() => import('./screens/manage/Unsubscribers.tsx'));
const SendBlock = lazy(() => import('./screens/manage/SendBlock.tsx'));
const AccessKeys = lazy(() => import('./screens/manage/AccessKeys.tsx'));
const Domains = lazy(() => import('./screens/manage/Domains.tsx'));
const Delivery = lazy(() => import('./screens/manage/Delivery.tsx'));

function Screen({ path }: { path: string }) {
  if (path.startsWith('/send-block')) return <SendBlock />;
  if (path.startsWith('/send')) return <Send />;
  if (path.startsWith('/templates')) return <Templates />;
  if (path.startsWith('/address-book')) return <AddressBook />;
  if (path.startsWith('/unsubscribers')) return <Unsubscribers />;
  if (path.startsWith('/keys')) return <AccessKeys />;
  if (path.startsWith('/domains')) return <Domains />;
  if (path.startsWith('/delivery')) return <Delivery />;
  return <MailingList />;
}

export function App() {
  const t = useT(common);
  const { lang } = useLang();
  const { route, navigate } = useRouter();
  const queryClient = useQueryClient();
  const [session, setSession] = useState<Session | undefined | null>(null);

  useEffect(() => setApiLang(lang), [lang]);
  useEffect(() => {
    setOnUnauthorized(() => setSession(undefined));
    // In a transition (as every route change): the boot text stays until the screen's code is
    // there, instead of a Suspense fallback that React would then hold for 300 ms.
    currentSession().then(
      (s) => startTransition(() => setSession(s)),
      () => setSession(undefined),
    );
  }, []);
  useEffect(() => {
    document.title = `${t('appName')}`;
  }, [t]);

  if (session === null) return <p className="boot">{t('loading')}</p>;
  if (!session)
    return (
      <SignIn
        onSignedIn={(s) => {
          queryClient.clear();
          startTransition(() => setSession(s));
          if (route.path === '/' || route.path === '/signin') navigate('/mails', { replace: true });
        }}
      />
    );
  const onSignOut = async () => {
    await signOut(session.csrfToken).catch(() => {});
    queryClient.clear();
    setSession(undefined);
  };
  return (
    <SessionContext.Provider value={session}>
      <Layout accessKey={session.accessKey} onSignOut={onSignOut}>
        <Screen path={route.path} />
      </Layout>
    </SessionContext.Provider>
  );
}
