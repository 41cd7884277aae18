import { createContext, type MouseEvent, type ReactNode, startTransition, useCallback, useContext, useEffect, useMemo, useRef, useState } from 'react';

/** The console's pages live under /console/; the service answers index.html for each of them. */
export const BASE = '/console';

export type Route = { path: string; params: URLSearchParams };

function current(): Route {
  const path = window.location.pathname.startsWith(BASE) ? window.location.pathname.slice(BASE.length) || '/' : '/';
  return { path, params: new URLSearchParams(window.location.search) };
}

const RouterContext = createContext<{ route: Route; navigate: (to: string, opts?: { replace?: boolean }) => void }>({
  route: { path: '/', params: new URLSearchParams() },
  navigate: () => {},
});

const screenOf = (path: string) => path.split('/')[1] ?? '';

/**
 * Moving to another screen is a transition: the screen shown stays until the next one's code
 * has loaded. Without it React shows the Suspense fallback and then holds the new screen back
 * for its 300 ms fallback throttle (every screen's first API call came about 300 ms late).
 * Within a screen (its search in the query, a detail path) the update is immediate, so the
 * screen follows the URL at once.
 */
function applyRoute(setRoute: (r: Route) => void, from: string) {
  const next = current();
  if (screenOf(next.path) === screenOf(from)) setRoute(next);
  else startTransition(() => setRoute(next));
}

export function RouterProvider({ children }: { children: ReactNode }) {
  const [route, setRoute] = useState<Route>(current);
  const path = useRef(route.path);
  path.current = route.path;
  useEffect(() => {
    const onPop = () => applyRoute(setRoute, path.current);
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const navigate = useCallback((to: string, opts: { replace?: boolean } = {}) => {
    const url = BASE + to;
    if (opts.replace) window.history.replaceState(null, '', url);
    else window.history.pushState(null, '', url);
    applyRoute(setRoute, path.current);
  }, []);
  const value = useMemo(() => ({ route, navigate }), [route, navigate]);
  return <RouterContext.Provider value={value}>{children}</RouterContext.Provider>;
}

export function useRouter() {
  return useContext(RouterContext);
}

/** An <a> that navigates inside the console without reloading (and opens in a new tab with a modifier). */
export function Link({ to, children, className, ...rest }: { to: string; children: ReactNode; className?: string; 'aria-current'?: 'page' | undefined }) {
  const { navigate } = useRouter();
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return (
    <a href={BASE + to} onClick={onClick} className={className} {...rest}>
      {children}
    </a>
  );
}
