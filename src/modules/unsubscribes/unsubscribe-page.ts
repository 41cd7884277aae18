import type { Lang } from '../../shared/i18n.ts';

/**
 * The public unsubscribe page (pure HTML rendering). Self-contained: no scripts, images, fonts
 * or other requests; every value escaped. It shows the address masked and its own state, never
 * the sender, the project or anything else.
 */

/** The best of en/ko/ja by the Accept-Language header (q-values respected); English otherwise. */
export function langFromAcceptLanguage(header: string | undefined): Lang {
  if (!header) return 'en';
  const ranked = header
    .split(',')
    .map((part, i) => {
      const [tag = '', ...params] = part.trim().toLowerCase().split(';');
      const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find((x) => x !== undefined);
      return { tag: tag.trim(), q: q === undefined ? 1 : Number(q), i };
    })
    .filter((x) => x.tag !== '' && Number.isFinite(x.q) && x.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const { tag } of ranked) {
    if (tag === 'ko' || tag.startsWith('ko-')) return 'ko';
    if (tag === 'ja' || tag.startsWith('ja-')) return 'ja';
    if (tag === 'en' || tag.startsWith('en-')) return 'en';
  }
  return 'en';
}

/** "h***g@example.com": enough for the owner to recognise, little for anyone else. */
export function maskAddress(address: string): string {
  const at = address.lastIndexOf('@');
  const local = at > 0 ? address.slice(0, at) : address;
  const domain = at > 0 ? address.slice(at) : '';
  const chars = [...local];
  const masked = chars.length <= 2 ? `${chars[0] ?? ''}***` : `${chars[0]}***${chars[chars.length - 1]}`;
  return masked + domain;
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const TEXT: Record<Lang, Record<string, string>> = {
  en: {
    title: 'Unsubscribe',
    subscribed: '{address} receives advertising mail from this sender.',
    unsubscribed: '{address} no longer receives advertising mail from this sender (since {date}).',
    confirm: 'Unsubscribe',
    resubscribe: 'Subscribe again',
    doneUnsubscribe: 'You have been unsubscribed.',
    doneResubscribe: 'You are subscribed again.',
    invalid: 'This unsubscribe link is not valid.',
  },
  ko: {
    title: '수신거부',
    subscribed: '{address} 주소는 이 발신자의 광고 메일을 받고 있습니다.',
    unsubscribed: '{address} 주소는 이 발신자의 광고 메일을 받지 않습니다 ({date}부터).',
    confirm: '수신거부',
    resubscribe: '다시 받기',
    doneUnsubscribe: '수신거부 처리되었습니다.',
    doneResubscribe: '다시 받도록 처리되었습니다.',
    invalid: '유효하지 않은 수신거부 링크입니다.',
  },
  ja: {
    title: '受信拒否',
    subscribed: '{address} はこの送信者の広告メールを受信しています。',
    unsubscribed: '{address} はこの送信者の広告メールを受信していません({date}から)。',
    confirm: '受信拒否',
    resubscribe: '再度受信する',
    doneUnsubscribe: '受信拒否しました。',
    doneResubscribe: '再度受信するように設定しました。',
    invalid: 'この受信拒否リンクは無効です。',
  },
};

function layout(lang: Lang, body: string): string {
  return (
    `<!doctype html><html lang="${lang}"><head><meta charset="utf-8">` +
    '<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">' +
    `<title>${escapeHtml(TEXT[lang].title!)}</title>` +
    '<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}' +
    'button{font-size:1rem;padding:.5rem 1.25rem;cursor:pointer}.note{color:#666}</style></head>' +
    `<body><h1>${escapeHtml(TEXT[lang].title!)}</h1>${body}</body></html>`
  );
}

export interface PageView {
  lang: Lang;
  address: string;
  unsubscribed: boolean;
  /** already formatted in the display time zone */
  since: string | null;
  /** what the POST just did, if anything */
  done?: 'unsubscribe' | 'resubscribe';
}

/** The page for a valid link: state, and the one button that changes it (a form POST to this URL). */
export function renderUnsubscribePage(v: PageView): string {
  const t = TEXT[v.lang];
  const address = `<strong>${escapeHtml(maskAddress(v.address))}</strong>`;
  const state = (v.unsubscribed ? t.unsubscribed! : t.subscribed!)
    .split(/(\{address\}|\{date\})/)
    .map((part) => (part === '{address}' ? address : part === '{date}' ? escapeHtml(v.since ?? '') : escapeHtml(part)))
    .join('');
  const done = v.done ? `<p class="done">${escapeHtml(v.done === 'unsubscribe' ? t.doneUnsubscribe! : t.doneResubscribe!)}</p>` : '';
  const action = v.unsubscribed ? 'resubscribe' : 'unsubscribe';
  const label = v.unsubscribed ? t.resubscribe! : t.confirm!;
  const form = `<form method="post"><input type="hidden" name="action" value="${action}"><button type="submit">${escapeHtml(label)}</button></form>`;
  return layout(v.lang, `${done}<p>${state}</p>${form}`);
}

export function renderInvalidLinkPage(lang: Lang): string {
  return layout(lang, `<p class="note">${escapeHtml(TEXT[lang].invalid!)}</p>`);
}
