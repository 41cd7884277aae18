/**
 * The Mailing list's search state lives in the URL query, so reload and back keep it.
 * Keys are the API's own query names; dates are the browser's local dates (yyyy-MM-dd) and
 * go to the API as startUtc/endUtc (the whole days, both ends inclusive).
 */

export const STATUS_CODES = ['P', 'R', 'I', 'S', 'PF', 'F', 'U', 'C'] as const;
export const PAGE_SIZES = [10, 20, 50, 100] as const;
export const DEFAULT_DAYS = 30;

export type Tab = 'requests' | 'recipients';

export interface Search {
  from: string;
  to: string;
  sendStatus: string;
  requestId: string;
  mailId: string;
  recipientAddress: string;
  senderAddress: string;
  title: string;
  templateSid: string;
  dispatchType: string;
  /** bounce / complaint filter: '', HARD, SOFT, ANY (bounceType) or COMPLAINED (complained=true) */
  feedback: string;
}

export const FEEDBACK_FILTERS = ['HARD', 'SOFT', 'ANY', 'COMPLAINED'] as const;

export interface ListState {
  search: Search;
  page: number;
  size: number;
  /** `property,asc|desc`, or '' for the API's default order */
  sort: string;
}

const SEARCH_KEYS = [
  'from',
  'to',
  'sendStatus',
  'requestId',
  'mailId',
  'recipientAddress',
  'senderAddress',
  'title',
  'templateSid',
  'dispatchType',
  'feedback',
] as const;

function pad(n: number) {
  return String(n).padStart(2, '0');
}
export function localDate(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}
export function defaultFrom(): string {
  const d = new Date();
  d.setDate(d.getDate() - (DEFAULT_DAYS - 1));
  return localDate(d);
}
export function defaultTo(): string {
  return localDate(new Date());
}

export function emptySearch(): Search {
  return {
    from: defaultFrom(),
    to: defaultTo(),
    sendStatus: '',
    requestId: '',
    mailId: '',
    recipientAddress: '',
    senderAddress: '',
    title: '',
    templateSid: '',
    dispatchType: '',
    feedback: '',
  };
}

export function readList(params: URLSearchParams): ListState {
  const search = emptySearch();
  for (const k of SEARCH_KEYS) {
    const v = params.get(k);
    if (v !== null) search[k] = v;
  }
  const page = Math.max(0, Number.parseInt(params.get('page') ?? '0', 10) || 0);
  const sizeParam = Number.parseInt(params.get('size') ?? '', 10);
  const size = (PAGE_SIZES as readonly number[]).includes(sizeParam) ? sizeParam : 10;
  return { search, page, size, sort: params.get('sort') ?? '' };
}

/** The URL query of a list state: defaults are left out so a plain /mails stays plain. */
export function writeList(state: ListState, extra: Record<string, string> = {}): string {
  const p = new URLSearchParams(extra);
  for (const k of SEARCH_KEYS) {
    const v = state.search[k].trim();
    if (k === 'from' && v === defaultFrom()) continue;
    if (k === 'to' && v === defaultTo()) continue;
    if (v !== '') p.set(k, v);
  }
  if (state.page > 0) p.set('page', String(state.page));
  if (state.size !== 10) p.set('size', String(state.size));
  if (state.sort) p.set('sort', state.sort);
  const s = p.toString();
  return s ? `?${s}` : '';
}

function dayStart(date: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) return undefined;
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])).getTime();
}
function dayEnd(date: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) return undefined;
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + 1).getTime() - 1;
}

export function datesInOrder(s: Search): boolean {
  const a = dayStart(s.from);
  const b = dayEnd(s.to);
  return a === undefined || b === undefined || a <= b;
}

export type Filters = {
  startUtc?: number;
  endUtc?: number;
  sendStatus?: string[];
  requestId?: string;
  mailId?: string;
  recipientAddress?: string;
  senderAddress?: string;
  title?: string;
  templateSid?: number;
  dispatchType?: string;
  bounceType?: string;
  complained?: boolean;
};

/** The API filters of a search (the same for the list and for its export). */
export function toFilters(s: Search, opts: { dates?: boolean } = {}): Filters {
  const f: Filters = {};
  if (opts.dates !== false) {
    f.startUtc = dayStart(s.from) ?? dayStart(defaultFrom());
    f.endUtc = dayEnd(s.to) ?? dayEnd(defaultTo());
  }
  if (s.sendStatus) f.sendStatus = [s.sendStatus];
  const text = (k: 'requestId' | 'mailId' | 'recipientAddress' | 'senderAddress' | 'title' | 'dispatchType') => {
    const v = s[k].trim();
    if (v) f[k] = v;
  };
  text('requestId');
  text('mailId');
  text('recipientAddress');
  text('senderAddress');
  text('title');
  text('dispatchType');
  if (/^\d+$/.test(s.templateSid)) f.templateSid = Number(s.templateSid);
  if (s.feedback === 'COMPLAINED') f.complained = true;
  else if ((FEEDBACK_FILTERS as readonly string[]).includes(s.feedback)) f.bounceType = s.feedback;
  return f;
}

export function parseSort(sort: string): { property: string; dir: 'asc' | 'desc' } | undefined {
  if (!sort) return undefined;
  const [property, dir] = sort.split(',');
  if (!property) return undefined;
  return { property, dir: dir === 'desc' ? 'desc' : 'asc' };
}

/** Epoch ms of a requestDate older than 30 days: such a ready request can't be sent now. */
export const SEND_NOW_MAX_AGE_MS = 30 * 86_400_000;
