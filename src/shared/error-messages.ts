import type { Lang } from './i18n.ts';

/**
 * Error messages in the caller's x-ncp-lang, like the labels. A service error's message is
 * "field: rule" (several joined by "; " when the validator found more than one): the field names
 * and the values quoted stay as sent, the rule is translated. Rules without a translation here
 * (rare ones) stay in English rather than being guessed at.
 */
type Translation = Record<Exclude<Lang, 'en'>, string>;

/** Whole messages (no field). */
const MESSAGES: Record<string, Translation> = {
  'Malformed JSON body': { ko: 'JSON 본문의 형식이 올바르지 않습니다', ja: 'JSON 本文の形式が正しくありません' },
  'No permissions to the requested resource': { ko: '요청한 리소스에 대한 권한이 없습니다', ja: 'リクエストしたリソースへの権限がありません' },
  'Unsupported method type': { ko: '지원하지 않는 메서드입니다', ja: 'サポートされていないメソッドです' },
  'Unsupported media type': { ko: '지원하지 않는 미디어 타입입니다', ja: 'サポートされていないメディアタイプです' },
  'Internal server error': { ko: '내부 서버 오류가 발생했습니다', ja: '内部サーバーエラーが発生しました' },
  'Bad request': { ko: '잘못된 요청입니다', ja: '不正なリクエストです' },
};

const TYPES: Record<string, Translation> = {
  string: { ko: '문자열', ja: '文字列' },
  integer: { ko: '정수', ja: '整数' },
  number: { ko: '숫자', ja: '数値' },
  boolean: { ko: '불리언(true/false)', ja: 'ブール値(true/false)' },
  array: { ko: '배열', ja: '配列' },
  object: { ko: '객체', ja: 'オブジェクト' },
};

/** Rules, tried in order; `$1`… are the pattern's groups (field names and values, kept as sent). */
const RULES: [RegExp, Translation | ((m: RegExpMatchArray, lang: Exclude<Lang, 'en'>) => string)][] = [
  [
    /^the key this request is signed with cannot be revoked; use another key of the project to revoke it$/,
    {
      ko: '이 요청에 사용 중인 키는 폐기할 수 없습니다. 프로젝트의 다른 키로 폐기하세요',
      ja: 'このリクエストで使用中のキーは無効化できません。プロジェクトの別のキーで無効化してください',
    },
  ],
  [/^key (\S+) is already revoked$/, { ko: '키 $1은(는) 이미 폐기되었습니다', ja: 'キー $1 はすでに無効化されています' }],
  [/^required when (\S+) is not given$/, { ko: '$1이(가) 없으면 필수입니다', ja: '$1 を指定しない場合は必須です' }],
  [/^required when (\S+) is false$/, { ko: '$1이(가) false이면 필수입니다', ja: '$1 が false の場合は必須です' }],
  [/^required(.*)$/, { ko: '필수 항목입니다$1', ja: '必須です$1' }],
  [
    /^(".*" )?is not a valid e-mail address$|^not a valid e-mail address$/,
    { ko: '$1올바른 이메일 주소가 아닙니다', ja: '$1有効なメールアドレスではありません' },
  ],
  [/^at most (\d[\d,.]*) bytes$/, { ko: '최대 $1바이트입니다', ja: '最大 $1 バイトです' }],
  [/^at most (\d[\d,.]*) characters$/, { ko: '최대 $1자입니다', ja: '最大 $1 文字です' }],
  [/^at most (\d[\d,.]*) KB$/, { ko: '최대 $1KB입니다', ja: '最大 $1 KB です' }],
  [/^at most (\d[\d,.]*) (.+)$/, { ko: '최대 $1개입니다 ($2)', ja: '最大 $1 件です ($2)' }],
  [
    /^(.+) does not exist( or has expired)?$/,
    (m, lang) =>
      lang === 'ko' ? `${m[1]}이(가) 존재하지 않${m[2] ? '거나 만료되었' : ''}습니다` : `${m[1]} は存在${m[2] ? 'しないか、期限切れです' : 'しません'}`,
  ],
  [/^not a valid time$/, { ko: '올바른 시각이 아닙니다', ja: '有効な日時ではありません' }],
  [/^the reservation time is in the past$/, { ko: '예약 시간이 과거입니다', ja: '予約日時が過去です' }],
  [
    /^the reservation time must be at most (\d+) days ahead$/,
    { ko: '예약 시간은 최대 $1일 후까지 지정할 수 있습니다', ja: '予約日時は最大 $1 日後まで指定できます' },
  ],
  [/^not allowed together with (\S+)$/, { ko: '$1와(과) 함께 사용할 수 없습니다', ja: '$1 と同時には指定できません' }],
  [
    /^unknown meta tag (#\{[^}]*\}); the meta tags are (.+)$/,
    { ko: '알 수 없는 메타 태그 $1입니다. 사용할 수 있는 메타 태그: $2', ja: '不明なメタタグ $1 です。使用できるメタタグ: $2' },
  ],
  [
    /^meta tag (#\{[^}]*\}) can't be used when individual is false$/,
    { ko: 'individual이 false이면 메타 태그 $1을(를) 사용할 수 없습니다', ja: 'individual が false の場合、メタタグ $1 は使用できません' },
  ],
  [
    /^only a ready \(R\) request can be sent now; this request is (\S+)$/,
    {
      ko: '발송 준비(R) 상태의 요청만 즉시 발송할 수 있습니다. 이 요청의 상태: $1',
      ja: '送信準備(R)状態のリクエストのみ即時送信できます。このリクエストの状態: $1',
    },
  ],
  [
    /^only a request that is preparing \(P\), ready \(R\) or sending \(I\) can be cancelled; this request is (\S+)$/,
    {
      ko: '발송 준비중(P), 발송 준비(R), 발송중(I) 상태의 요청만 취소할 수 있습니다. 이 요청의 상태: $1',
      ja: '送信準備中(P)、送信準備(R)、送信中(I)状態のリクエストのみキャンセルできます。このリクエストの状態: $1',
    },
  ],
  [
    /^a ready request created more than 30 days ago can not be sent$/,
    { ko: '30일보다 전에 등록된 발송 준비 요청은 즉시 발송할 수 없습니다', ja: '30日以前に登録された送信準備メールは即時送信できません' },
  ],
  [
    /^this key was used with a different request body in the last 24 hours$/,
    { ko: '이 키는 최근 24시간 안에 다른 요청 본문과 함께 사용되었습니다', ja: 'このキーは直近24時間以内に別のリクエスト本文で使用されました' },
  ],
  [/^must have required property '([^']+)'$/, { ko: "필수 속성 '$1'이(가) 없습니다", ja: "必須プロパティ '$1' がありません" }],
  [/^must NOT have additional properties$/, { ko: '정의되지 않은 속성은 허용되지 않습니다', ja: '定義されていないプロパティは指定できません' }],
  [/^must be equal to one of the allowed values(.*)$/, { ko: '허용된 값 중 하나여야 합니다$1', ja: '許可された値のいずれかである必要があります$1' }],
  [
    /^must NOT have (more|fewer) than (\d+) (characters|items)$/,
    (m, lang) => {
      const unit = m[3] === 'characters' ? (lang === 'ko' ? '자' : '文字') : lang === 'ko' ? '개' : '件';
      if (lang === 'ko') return `${m[2]}${unit} ${m[1] === 'more' ? '이하' : '이상'}여야 합니다`;
      return `${m[2]} ${unit}${m[1] === 'more' ? '以下' : '以上'}である必要があります`;
    },
  ],
  [
    /^must be (string|integer|number|boolean|array|object)$/,
    (m, lang) => (lang === 'ko' ? `${TYPES[m[1]!]!.ko}이어야 합니다` : `${TYPES[m[1]!]!.ja}である必要があります`),
  ],
  [
    /^must be (a string|a whole number|true or false|an object)$/,
    (m, lang) => {
      const t = { 'a string': TYPES.string!, 'a whole number': TYPES.integer!, 'true or false': TYPES.boolean!, 'an object': TYPES.object! }[m[1]!]!;
      return lang === 'ko' ? `${t.ko}이어야 합니다` : `${t.ja}である必要があります`;
    },
  ],
  [/^must (?:be|look like) (.+)$/, { ko: '다음 형식이어야 합니다: $1', ja: '次の形式である必要があります: $1' }],
];

function translateRule(rule: string, lang: Exclude<Lang, 'en'>): string {
  for (const [pattern, t] of RULES) {
    const m = rule.match(pattern);
    if (!m) continue;
    if (typeof t === 'function') return t(m, lang);
    return t[lang].replace(/\$(\d)/g, (_, i: string) => m[Number(i)] ?? '');
  }
  return rule;
}

/** `field: rule` → the field as sent, the rule translated. */
function translatePart(part: string, lang: Exclude<Lang, 'en'>): string {
  const whole = MESSAGES[part];
  if (whole) return whole[lang];
  const colon = part.indexOf(': ');
  if (colon < 0) return translateRule(part, lang);
  return `${part.slice(0, colon)}: ${translateRule(part.slice(colon + 2), lang)}`;
}

export function localiseErrorMessage(message: string, lang: Lang): string {
  if (lang === 'en') return message;
  // Only "; " before another "field: " joins messages; a rule may hold "; " itself.
  return message
    .split(/; (?=[\w.[\]-]+: )/)
    .map((p) => translatePart(p, lang))
    .join('; ');
}
