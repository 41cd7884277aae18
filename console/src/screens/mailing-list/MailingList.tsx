import './mailing-list.css';
import { useQueryClient } from '@tanstack/react-query';
import { type KeyboardEvent, useMemo, useRef, useState } from 'react';
import { useT } from '../../i18n/i18n.tsx';
import { useRouter } from '../../router.tsx';
import { ExportDialog } from './ExportDialog.tsx';
import { Legends } from './Legends.tsx';
import { MailList } from './MailList.tsx';
import { m } from './messages.ts';
import { RecipientList } from './RecipientList.tsx';
import { RequestList } from './RequestList.tsx';
import { SearchBar } from './SearchBar.tsx';
import { type ListState, readList, type Search, type Tab, toFilters, writeList } from './search.ts';

const TABS: Tab[] = ['requests', 'recipients'];
/** The request or recipient list the user came from, for the mail list's "back". */
let lastListUrl = '/mails';

/**
 * The guide's Mailing list screen: [送信する], [更新], the two list tabs with their search bar,
 * the mail list of one request (/mails/requests/{requestId}), the Excel download popup and the
 * legends of statuses and result codes. The search state is the URL's query.
 */
export default function MailingList() {
  const t = useT(m);
  const qc = useQueryClient();
  const { route, navigate } = useRouter();
  const [exporting, setExporting] = useState(false);
  const tabRefs = useRef<(HTMLButtonElement | null)[]>([]);
  const query = route.params.toString();
  const mailsOf = /^\/mails\/requests\/([^/]+)/.exec(route.path)?.[1];
  const requestId = mailsOf ? decodeURIComponent(mailsOf) : undefined;
  const tab: Tab = route.params.get('tab') === 'recipients' ? 'recipients' : 'requests';
  const state = useMemo(() => readList(new URLSearchParams(query)), [query]);

  const go = (next: ListState, nextTab: Tab = tab) => {
    if (requestId) {
      navigate(`/mails/requests/${encodeURIComponent(requestId)}${writeList(next)}`);
      return;
    }
    const url = `/mails${writeList(next, nextTab === 'recipients' ? { tab: 'recipients' } : {})}`;
    lastListUrl = url;
    navigate(url);
  };
  const onSearch = (search: Search) => go({ ...state, search, page: 0 });
  const switchTab = (next: Tab) => {
    if (next !== tab) go({ ...state, page: 0, sort: '' }, next);
  };
  const onTabKey = (e: KeyboardEvent<HTMLButtonElement>, i: number) => {
    let j = -1;
    if (e.key === 'ArrowRight') j = (i + 1) % TABS.length;
    else if (e.key === 'ArrowLeft') j = (i - 1 + TABS.length) % TABS.length;
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = TABS.length - 1;
    if (j < 0) return;
    e.preventDefault();
    switchTab(TABS[j]!);
    tabRefs.current[j]?.focus();
  };
  const openMails = (id: string) => {
    lastListUrl = `${route.path.startsWith('/mails') ? route.path : '/mails'}${query ? `?${query}` : ''}`;
    navigate(`/mails/requests/${encodeURIComponent(id)}`);
  };

  const exportView = requestId ? 'mails' : tab;
  const exportFilters = requestId
    ? (() => {
        const { startUtc: _s, endUtc: _e, ...rest } = toFilters(state.search, { dates: false });
        return { ...rest, requestId };
      })()
    : toFilters(state.search);

  return (
    <div className="ml-screen">
      <h1>{t('title')}</h1>
      <div className="toolbar">
        <button type="button" className="primary" onClick={() => navigate('/send')}>
          {t('send')}
        </button>
        <button type="button" onClick={() => qc.invalidateQueries({ queryKey: ['mails'] })}>
          {t('refresh')}
        </button>
        <span className="spacer" />
        <button type="button" onClick={() => setExporting(true)}>
          {t('exportOpen')}
        </button>
      </div>
      {requestId ? (
        <>
          <p>
            <button type="button" className="link" onClick={() => navigate(lastListUrl)}>
              ← {t('backToList')}
            </button>
          </p>
          <MailList requestId={requestId} state={state} onState={go} searchBar={<SearchBar value={state.search} onSearch={onSearch} variant="mails" />} />
        </>
      ) : (
        <>
          <div className="tabs" role="tablist" aria-label={t('tabsLabel')}>
            {TABS.map((id, i) => (
              <button
                key={id}
                ref={(el) => {
                  tabRefs.current[i] = el;
                }}
                type="button"
                role="tab"
                id={`ml-tab-${id}`}
                aria-selected={tab === id}
                aria-controls="ml-tabpanel"
                tabIndex={tab === id ? 0 : -1}
                onClick={() => switchTab(id)}
                onKeyDown={(e) => onTabKey(e, i)}
              >
                {id === 'requests' ? t('tabRequests') : t('tabRecipients')}
              </button>
            ))}
          </div>
          <div role="tabpanel" id="ml-tabpanel" aria-labelledby={`ml-tab-${tab}`}>
            <SearchBar value={state.search} onSearch={onSearch} variant="main" />
            {tab === 'requests' ? (
              <RequestList state={state} onState={go} onOpenMails={openMails} />
            ) : (
              <RecipientList state={state} onState={go} onOpenMails={openMails} />
            )}
          </div>
        </>
      )}
      <Legends />
      {exporting && <ExportDialog view={exportView} filters={exportFilters} onClose={() => setExporting(false)} />}
    </div>
  );
}
