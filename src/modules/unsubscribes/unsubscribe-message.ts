import type { Lang } from '../../shared/i18n.ts';

/**
 * The unsubscribe notice of advertising mail (pure). The basic notice is written in the language
 * of AD_TITLE_PREFIX, so the ad marker in the title and the notice in the body always agree
 * (the default "(광고)" gives Korean, as Korean law asks of advertising mail); a custom
 * `unsubscribeMessage` is used as given (HTML, and may hold #{UNSUBSCRIBE_URL}).
 */

const BASIC: Record<Lang, string> = {
  ko:
    '<p style="font-size:12px;color:#666666">본 메일은 수신에 동의하신 분께 보내는 광고 메일입니다. ' +
    '더 이상 받기를 원하지 않으시면 <a href="#{UNSUBSCRIBE_URL}" target="_blank">수신거부</a>를 눌러 주세요.</p>',
  ja:
    '<p style="font-size:12px;color:#666666">本メールは受信に同意いただいた方にお送りしている広告メールです。' +
    '今後の受信を希望されない場合は<a href="#{UNSUBSCRIBE_URL}" target="_blank">受信拒否</a>をクリックしてください。</p>',
  en:
    '<p style="font-size:12px;color:#666666">You receive this advertising mail because you agreed to receive it. ' +
    'If you no longer wish to receive it, <a href="#{UNSUBSCRIBE_URL}" target="_blank">unsubscribe</a>.</p>',
};

/** Hangul in the prefix: Korean; kana or 広告: Japanese; anything else: English. */
export function langOfAdPrefix(prefix: string): Lang {
  if (/[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]/.test(prefix)) return 'ko';
  if (/[\u3040-\u30ff]|広告/.test(prefix)) return 'ja';
  return 'en';
}

export function basicUnsubscribeMessage(lang: Lang): string {
  return BASIC[lang];
}

/** The notice of one request: the basic one unless the request asked for its own. */
export function unsubscribeMessageFor(request: { useBasicUnsubscribeMsg: boolean; unsubscribeMessage: string | null }, lang: Lang): string {
  return !request.useBasicUnsubscribeMsg && request.unsubscribeMessage ? request.unsubscribeMessage : basicUnsubscribeMessage(lang);
}

const PLACEHOLDER = '#{UNSUBSCRIBE_MESSAGE}';

/**
 * The body with a place for the notice: where the body has #{UNSUBSCRIBE_MESSAGE} already, or
 * else at the end of the HTML body (before the last `</body>` when there is one).
 */
export function placeUnsubscribeMessage(body: string): string {
  if (body.includes(PLACEHOLDER)) return body;
  const block = `\n<div>${PLACEHOLDER}</div>\n`;
  const close = body.toLowerCase().lastIndexOf('</body>');
  return close >= 0 ? body.slice(0, close) + block + body.slice(close) : body + block;
}
