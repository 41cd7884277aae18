/**
 * Localised {label, code} objects and result-code texts, chosen by x-ncp-lang
 * (en-US default, ko-KR, ja-JP; anything else falls back to en-US).
 */
export type Lang = 'en' | 'ko' | 'ja';

export interface LabelCode {
  label: string;
  code: string;
}

export function langFromHeader(header: string | string[] | undefined): Lang {
  const value = (Array.isArray(header) ? header[0] : header)?.toLowerCase() ?? '';
  if (value.startsWith('ko')) return 'ko';
  if (value.startsWith('ja')) return 'ja';
  return 'en';
}

type Table = Record<string, Record<Lang, string>>;

const EMAIL_STATUS: Table = {
  P: { en: 'Preparing to send', ko: '발송준비중', ja: '送信準備中' },
  R: { en: 'Ready to send', ko: '발송준비', ja: '送信準備' },
  I: { en: 'Sending', ko: '발송중', ja: '送信中' },
  S: { en: 'Sent successfully', ko: '발송성공', ja: '送信成功' },
  F: { en: 'Failed to send', ko: '발송실패', ja: '送信失敗' },
  PF: { en: 'Partial failure', ko: '일부실패', ja: '一部失敗' },
  U: { en: 'Unsubscribe', ko: '수신거부', ja: '受信拒否' },
  C: { en: 'Cancel sending', ko: '발송취소', ja: '送信キャンセル' },
};

const RECIPIENT_TYPE: Table = {
  R: { en: 'Recipient', ko: '수신자', ja: '受信者' },
  C: { en: 'Cc', ko: '참조인', ja: 'Cc' },
  B: { en: 'Bcc', ko: '숨은참조', ja: 'Bcc' },
};

const RESERVATION_STATUS: Table = {
  Y: { en: 'Reserved', ko: '예약발송', ja: '予約送信' },
  N: { en: 'Immediate', ko: '즉시발송', ja: '即時送信' },
  W: { en: 'Waiting for confirmation', ko: '확인 후 발송 대기', ja: '確認後に送信(待機中)' },
  S: { en: 'Sent now', ko: '즉시발송 실행', ja: '即時送信を実行' },
};

const TEMPLATE_BACKUP_STATUS: Table = {
  R: { en: 'Pending', ko: '대기', ja: '待機中' },
  I: { en: 'Creating', ko: '생성중', ja: '作成中' },
  C: { en: 'Completed', ko: '완료', ja: '完了' },
  F: { en: 'Failed', ko: '실패', ja: '失敗' },
  E: { en: 'Expired', ko: '만료', ja: '期限切れ' },
};

const EXPORT_STATUS: Table = {
  R: { en: 'Requested', ko: '요청', ja: 'リクエスト済み' },
  I: { en: 'Creating', ko: '생성중', ja: '作成中' },
  C: { en: 'Completed', ko: '완료', ja: '完了' },
  F: { en: 'Failed', ko: '실패', ja: '失敗' },
  E: { en: 'Expired', ko: '만료', ja: '期限切れ' },
};

const SEND_BLOCK_ACTION: Table = {
  C: { en: 'Create', ko: '생성', ja: '作成' },
  D: { en: 'Delete', ko: '삭제', ja: '削除' },
};

const SEND_BLOCK_REQUESTER: Table = {
  CUSTOMER: { en: 'Customer', ko: '고객', ja: '顧客' },
  OTHER_CUSTOMER: { en: 'Other customer', ko: '다른 고객', ja: '他の顧客' },
  SYSTEM: { en: 'System', ko: '시스템', ja: 'システム' },
  ADMIN: { en: 'Admin', ko: '관리자', ja: '管理者' },
};

const SEND_BLOCK_STATE: Table = {
  BLOCKED: { en: 'Blocked', ko: '차단', ja: '遮断' },
  NOT_BLOCKED: { en: 'Not blocked', ko: '차단 안 됨', ja: '遮断なし' },
};

const SENDER_DOMAIN_STATUS: Table = {
  P: { en: 'Pending verification', ko: '인증 대기', ja: '認証待ち' },
  V: { en: 'Verified', ko: '인증됨', ja: '認証済み' },
  F: { en: 'Verification failed', ko: '인증 실패', ja: '認証失敗' },
};

/**
 * What came back after a mail was handed over (recipients.bounce_type): the API's codes
 * (HARD: the recipient was turned into a failure; SOFT: recorded only) by the stored letter.
 */
export const BOUNCE_TYPE_CODES: Readonly<Record<string, 'HARD' | 'SOFT'>> = { H: 'HARD', S: 'SOFT' };

const BOUNCE_TYPE: Table = {
  HARD: { en: 'Hard bounce', ko: '하드 바운스', ja: 'ハードバウンス' },
  SOFT: { en: 'Soft bounce', ko: '소프트 바운스', ja: 'ソフトバウンス' },
};

export const RESULT_CODES = [
  'MAIL_SENT',
  'CONNECTION_ABNORMAL',
  'NETWORK_ABNORMAL',
  'NETWORK_ERROR',
  'SMTP_ABNORMAL',
  'SMTP_ERROR',
  'MAILBOX_ABNORMAL',
  'MAILBOX_ERROR',
  'RECEIVE_MAIL_SERVICE_ABNORMAL',
  'RECEIVE_MAIL_SERVICE_ERROR',
  'SECURITY_AND_POLICY_ABNORMAL',
  'SECURITY_AND_POLICY_ERROR',
  'RECIPIENT_ADDRESS_ERROR',
  'NONEXISTENT_DOMAIN_ADDRESS',
  'MAIL_CONTENTS_ERROR',
  'UNSUPPORTED_ENCODING_ADDRESS',
  'UNKNOWN_DOMAIN_ADDRESS',
  'CONTENT_HAS_TAG_FORM',
  'EMPTY_BODY_CONTENT',
  'MIME_MESSAGE_CREATE_FAIL',
  'SEND_BLOCK_ADDRESS',
  'UNSUBSCRIBE_ADDRESS',
  'CANCELED_MAIL',
  'RESENDING_MAIL',
  'RESEND_MAIL_FAIL',
  'TEST_MAIL_SEND',
  'UNDEFINED_ERROR',
  'UNKNOWN_CAUSE_FAIL',
] as const;
export type ResultCode = (typeof RESULT_CODES)[number];

const RESULT_CODE_MESSAGE: Record<ResultCode, Record<Lang, string>> = {
  MAIL_SENT: { en: 'Sent successfully.', ko: '발송 성공했습니다.', ja: '送信成功' },
  CANCELED_MAIL: { en: 'Sending was cancelled.', ko: '발송이 취소되었습니다.', ja: '送信をキャンセル' },
  CONNECTION_ABNORMAL: {
    en: 'Temporary failure: connection problem.',
    ko: '연결 이상으로 일시적으로 발송 실패했습니다.',
    ja: '接続異常による一時的な送信失敗',
  },
  CONTENT_HAS_TAG_FORM: {
    en: 'Failed: the content still holds a substitution tag.',
    ko: '메일 내용에 치환 태그가 남아 있어 발송 실패했습니다.',
    ja: 'メールコンテンツ内に置換タグが存在したため、送信失敗',
  },
  EMPTY_BODY_CONTENT: {
    en: 'Failed: the mail body could not be set (system error).',
    ko: '시스템 오류로 메일 본문을 설정하지 못해 발송 실패했습니다.',
    ja: 'システムエラーでメール本文を設定できなかったため、送信失敗',
  },
  MAILBOX_ABNORMAL: {
    en: "Temporary failure: the recipient's mailbox.",
    ko: '수신자 메일함 이상으로 일시적으로 발송 실패했습니다.',
    ja: '受信者メールボックス異常による一時的な送信失敗',
  },
  MAILBOX_ERROR: { en: "Failed: recipient's mailbox error.", ko: '수신자 메일함 오류로 발송 실패했습니다.', ja: '受信者メールボックスエラーによる送信失敗' },
  MAIL_CONTENTS_ERROR: { en: 'Failed: mail content error.', ko: '메일 내용 오류로 발송 실패했습니다.', ja: 'メールコンテンツエラーによる送信失敗' },
  MIME_MESSAGE_CREATE_FAIL: {
    en: 'Failed: the MIME message could not be created (system error).',
    ko: '시스템 오류로 MIME 메시지를 생성하지 못해 발송 실패했습니다.',
    ja: 'システムエラーでMIMEメッセージを作成できなかったため、送信失敗',
  },
  NETWORK_ABNORMAL: {
    en: 'Temporary failure: network problem.',
    ko: '네트워크 이상으로 일시적으로 발송 실패했습니다.',
    ja: 'ネットワーク異常による一時的な送信失敗',
  },
  NETWORK_ERROR: { en: 'Failed: network error.', ko: '네트워크 오류로 발송 실패했습니다.', ja: 'ネットワークエラーによる送信失敗' },
  NONEXISTENT_DOMAIN_ADDRESS: {
    en: "Failed: the recipient's domain does not exist.",
    ko: '수신자 도메인이 존재하지 않아 발송 실패했습니다.',
    ja: '受信者ドメインが存在しなかったため、送信失敗',
  },
  RECEIVE_MAIL_SERVICE_ABNORMAL: {
    en: "Temporary failure: the recipient's mail service.",
    ko: '수신 측 메일 서비스 이상으로 일시적으로 발송 실패했습니다.',
    ja: '受信者メールサービス異常による一時的な送信失敗',
  },
  RECEIVE_MAIL_SERVICE_ERROR: {
    en: "Failed: the recipient's mail service error.",
    ko: '수신 측 메일 서비스 오류로 발송 실패했습니다.',
    ja: '受信者メールサービスエラーによる送信失敗',
  },
  RECIPIENT_ADDRESS_ERROR: { en: 'Failed: recipient address error.', ko: '수신자 주소 오류로 발송 실패했습니다.', ja: '受信者アドレスエラーによる送信失敗' },
  RESENDING_MAIL: { en: 'Resending.', ko: '재발송 중입니다.', ja: '再送信中' },
  RESEND_MAIL_FAIL: { en: 'Failed: resend attempts exceeded.', ko: '재발송 시도 횟수를 초과하여 발송 실패했습니다.', ja: '再送信試行の超過による送信失敗' },
  SECURITY_AND_POLICY_ABNORMAL: {
    en: "Temporary failure: the receiving side's security and policy.",
    ko: '수신 측 메일 서비스의 보안 및 정책으로 인해 일시적으로 발송 실패했습니다.',
    ja: 'セキュリティとポリシー異常による一時的な送信失敗',
  },
  SECURITY_AND_POLICY_ERROR: {
    en: 'Failed: security and policy error.',
    ko: '보안 및 정책 오류로 발송 실패했습니다.',
    ja: 'セキュリティとポリシーエラーによる送信失敗',
  },
  SEND_BLOCK_ADDRESS: {
    en: 'Blocked: the address is on the send-block list.',
    ko: '발송 차단된 수신자여서 차단되었습니다.',
    ja: '送信遮断された受信者に対して送信リクエストして遮断',
  },
  SMTP_ABNORMAL: {
    en: 'Temporary failure: SMTP problem with the receiving side.',
    ko: '수신 측과의 SMTP 이상으로 일시적으로 발송 실패했습니다.',
    ja: '受信側とのSMTP異常による一時的な送信失敗',
  },
  SMTP_ERROR: { en: 'Failed: SMTP error with the receiving side.', ko: '수신 측과의 SMTP 오류로 발송 실패했습니다.', ja: '受信側とのSMTPエラーによる送信失敗' },
  TEST_MAIL_SEND: { en: 'System test mail.', ko: '시스템 테스트 메일입니다.', ja: 'システムのテストメール送信' },
  UNDEFINED_ERROR: { en: 'Failed: undefined error.', ko: '정의되지 않은 오류로 발송 실패했습니다.', ja: '定義されていないエラーによる送信失敗' },
  UNKNOWN_CAUSE_FAIL: { en: 'Failed: unknown cause.', ko: '알 수 없는 원인으로 발송 실패했습니다.', ja: 'システム内外で発生した不明なエラーによる送信失敗' },
  UNKNOWN_DOMAIN_ADDRESS: {
    en: 'Failed: unknown or blocked domain.',
    ko: '알 수 없거나 차단된 도메인이어서 발송 실패했습니다.',
    ja: '不明なドメインまたは遮断されたドメインが含まれたアドレスに対して送信リクエストして失敗',
  },
  UNSUBSCRIBE_ADDRESS: {
    en: 'Blocked: the address unsubscribed.',
    ko: '수신 거부한 주소여서 차단되었습니다.',
    ja: '送信拒否したアドレスに対して送信リクエストして遮断',
  },
  UNSUPPORTED_ENCODING_ADDRESS: {
    en: 'Failed: the recipient address could not be encoded.',
    ko: '수신자 주소 인코딩에 실패하여 발송 실패했습니다.',
    ja: '受信者アドレスのエンコード失敗による送信失敗',
  },
};

function labelOf(table: Table, code: string, lang: Lang): LabelCode {
  return { label: table[code]?.[lang] ?? code, code };
}

export const emailStatusLabel = (code: string, lang: Lang) => labelOf(EMAIL_STATUS, code, lang);
export const recipientTypeLabel = (code: string, lang: Lang) => labelOf(RECIPIENT_TYPE, code, lang);
export const reservationStatusLabel = (code: string, lang: Lang) => labelOf(RESERVATION_STATUS, code, lang);
export const templateBackupStatusLabel = (code: string, lang: Lang) => labelOf(TEMPLATE_BACKUP_STATUS, code, lang);
export const sendBlockActionLabel = (code: string, lang: Lang) => labelOf(SEND_BLOCK_ACTION, code, lang);
export const sendBlockRequesterLabel = (code: string, lang: Lang) => labelOf(SEND_BLOCK_REQUESTER, code, lang);
/** getSendBlockList's registerStatus: a display string ("Not blocked" in NCP's example) */
export const sendBlockStateText = (blocked: boolean, lang: Lang) => labelOf(SEND_BLOCK_STATE, blocked ? 'BLOCKED' : 'NOT_BLOCKED', lang).label;
export const senderDomainStatusLabel = (code: string, lang: Lang) => labelOf(SENDER_DOMAIN_STATUS, code, lang);
/** A stored bounce_type (H, S) as {label, code: HARD | SOFT}; null when none. */
export function bounceTypeLabel(stored: string | null, lang: Lang): LabelCode | null {
  if (stored === null) return null;
  return labelOf(BOUNCE_TYPE, BOUNCE_TYPE_CODES[stored] ?? stored, lang);
}
export const exportStatusLabel = (code: string, lang: Lang) => labelOf(EXPORT_STATUS, code, lang);

/**
 * Temporary causes of this service's own, beside NCP's result codes (which stay as NCP has them):
 * DELIVERY_THROTTLED, the recipient waits for a delivery limit of its domain or project.
 */
const EXTENSION_CAUSE_MESSAGE: Record<string, Record<Lang, string>> = {
  DELIVERY_THROTTLED: {
    en: 'Waiting: held back by a delivery limit (rate or connections) of its domain or project; not a failure.',
    ko: '대기 중: 도메인 또는 프로젝트의 발송 제한(속도 또는 연결 수)으로 보류되었습니다. 실패가 아닙니다.',
    ja: '待機中：ドメインまたはプロジェクトの配信制限（速度または接続数）により保留中です。失敗ではありません。',
  },
};

export function resultCodeMessage(code: string | null, lang: Lang): string | null {
  if (!code) return null;
  return RESULT_CODE_MESSAGE[code as ResultCode]?.[lang] ?? EXTENSION_CAUSE_MESSAGE[code]?.[lang] ?? null;
}

export const EMAIL_STATUS_CODES = Object.keys(EMAIL_STATUS);
