import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode, Suspense } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { LangProvider } from './i18n/i18n.tsx';
import { RouterProvider } from './router.tsx';
import './styles.css';

const queryClient = new QueryClient({
  defaultOptions: { queries: { retry: false, refetchOnWindowFocus: false, staleTime: 5_000 } },
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <LangProvider>
        <RouterProvider>
          {/* The one Suspense boundary, revealed from the start: screens load in transitions, so the
              page shown stays until the next screen's code is there (no fallback, no throttle). */}
          <Suspense fallback={<p className="boot">…</p>}>
            <App />
          </Suspense>
        </RouterProvider>
      </LangProvider>
    </QueryClientProvider>
  </StrictMode>,
);
