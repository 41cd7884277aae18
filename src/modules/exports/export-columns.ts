import type { components } from '../../generated/api.ts';
import type { Lang } from '../../shared/i18n.ts';
import type { XlsxCell } from '../../shared/xlsx/xlsx-writer.ts';

/**
 * The columns of each exported view: which field of the view's API row, under which header
 * (the console guide's column names; Japanese from the seed), in the order the console shows
 * them. A row is turned into cells by field, so the file always says what the API says.
 */

export type ExportView = 'requests' | 'recipients' | 'mails';
export const EXPORT_VIEWS: readonly ExportView[] = ['requests', 'recipients', 'mails'];

export interface ExportColumn<F extends string = string> {
  field: F;
  header: Record<Lang, string>;
  /** width in characters */
  width: number;
}

const col = <F extends string>(field: F, width: number, en: string, ko: string, ja: string): ExportColumn<F> => ({ field, width, header: { en, ko, ja } });

type Schemas = components['schemas'];
/** the API row fields of each view: a column naming a field the view does not have does not compile */
type Columns<Row> = readonly ExportColumn<keyof Row & string>[];

const PROJECT_ID = col('projectId', 12, 'Project ID', '프로젝트 ID', 'Project ID');
const REQUEST_ID = col('requestId', 24, 'Request ID', '요청 ID', 'Request ID');
const MAIL_ID = col('mailId', 24, 'Mail ID', '메일 ID', 'Mail ID');
const REQUEST_DATE = col('requestDate', 24, 'Request date', '요청 일시', 'リクエスト日時');
const SEND_DATE = col('sendDate', 24, 'Send date', '발송 일시', '送信日時');
const RESERVATION_DATE = col('reservationDate', 24, 'Reservation date', '예약 발송 일시', '予約送信日時');
const RESERVATION_STATUS = col('reservationStatus', 14, 'Reserved', '예약 발송 여부', '予約送信かどうか');
const EMAIL_STATUS = col('emailStatus', 16, 'Status', '발송 상태', '送信状態');
const TEMPLATE_SID = col('templateSid', 12, 'Template ID', '템플릿 ID', 'Template ID');
const TEMPLATE_NAME = col('templateName', 20, 'Template name', '템플릿 이름', 'Template Name');
const TITLE = col('title', 40, 'Title', '제목', '件名');
const SENDER_ADDRESS = col('senderAddress', 28, 'Sender address', '발송자 주소', '送信者アドレス');
const SENDER_NAME = col('senderName', 16, 'Sender name', '발송자 이름', '送信者名');
const ADVERTISING = col('advertising', 12, 'Advertising', '광고 메일 여부', '広告メールかどうか');

export const EXPORT_COLUMNS: Record<ExportView, readonly ExportColumn[]> = {
  requests: [
    REQUEST_ID,
    SENDER_ADDRESS,
    REQUEST_DATE,
    SEND_DATE,
    col('elapsedTime', 14, 'Elapsed time', '발송 소요 시간', '送信所要時間'),
    RESERVATION_STATUS,
    RESERVATION_DATE,
    col('cancelDate', 24, 'Cancel date', '취소 일시', 'キャンセル日時'),
    col('requestCount', 10, 'Requests', '요청 수', 'リクエスト数'),
    EMAIL_STATUS,
    SENDER_NAME,
    TITLE,
    TEMPLATE_SID,
    TEMPLATE_NAME,
    col('requesterIp', 16, 'Requester IP', '요청 IP', 'リクエストIP'),
    col('dispatchType', 12, 'Request tool', '발송 요청 도구', '送信リクエストツール'),
    ADVERTISING,
    col('recipientCount', 10, 'Recipients', '수신자 수', '受信者数'),
  ] satisfies Columns<Schemas['RequestListItem']>,
  recipients: [
    PROJECT_ID,
    REQUEST_ID,
    REQUEST_DATE,
    SEND_DATE,
    RESERVATION_DATE,
    EMAIL_STATUS,
    MAIL_ID,
    TEMPLATE_SID,
    TEMPLATE_NAME,
    TITLE,
    col('address', 28, 'Address', '주소', 'アドレス'),
    col('name', 16, 'Name', '이름', '名前'),
    col('type', 10, 'Type', '수신자 유형', '受信者タイプ'),
    col('received', 10, 'Received', '수신 여부', '受信したかどうか'),
    col('receivedDate', 24, 'Received date', '수신일', '受信日'),
    col('unsubscribed', 12, 'Unsubscribed', '수신 거부 여부', '受信拒否状態かどうか'),
    col('unsubscribedDate', 24, 'Unsubscribed date', '수신 거부일', '受信拒否日'),
    col('sendResultCode', 26, 'Send result code', '발송 결과 코드', '送信結果コード'),
    col('sendResultCodeMessage', 36, 'Send result', '발송 결과', '送信結果'),
    col('sendResultMessage', 36, 'SMTP response', 'SMTP 응답', 'SMTP応答'),
    col('retryCount', 10, 'Retries', '재발송 횟수', '再送信回数'),
    col('temporaryResultCode', 30, 'Temporary failure cause', '일시 실패 원인', '一時的な失敗の原因'),
    col('bounceType', 14, 'Bounce type', '반송 유형', 'バウンス種別'),
    col('bounceStatus', 12, 'Bounce status', '반송 상태 코드', 'バウンスステータス'),
    col('bounceMessage', 40, 'Bounce message', '반송 메시지', 'バウンスメッセージ'),
    col('bounceDate', 24, 'Bounce date', '반송 일시', 'バウンス日時'),
    col('complaintType', 14, 'Complaint type', '스팸 신고 유형', '苦情の種別'),
    col('complaintDate', 24, 'Complaint date', '스팸 신고 일시', '苦情日時'),
  ] satisfies Columns<Schemas['RecipientListItem']>,
  mails: [
    REQUEST_ID,
    REQUEST_DATE,
    MAIL_ID,
    SEND_DATE,
    RESERVATION_STATUS,
    EMAIL_STATUS,
    TEMPLATE_SID,
    TEMPLATE_NAME,
    TITLE,
    SENDER_ADDRESS,
    SENDER_NAME,
    ADVERTISING,
    col('representativeRecipient', 28, 'Recipient', '수신자', '受信者'),
  ] satisfies Columns<Schemas['MailListItem']>,
};

const YES_NO: Record<Lang, [string, string]> = { en: ['Y', 'N'], ko: ['Y', 'N'], ja: ['はい', 'いいえ'] };

export const headerRow = (view: ExportView, lang: Lang): string[] => EXPORT_COLUMNS[view].map((c) => c.header[lang]);
export const columnWidths = (view: ExportView): number[] => EXPORT_COLUMNS[view].map((c) => c.width);

/**
 * One API value as a cell: `{label, code}` its (already localised) label, a NesDateTime its
 * formattedDateTime (display time zone), a boolean Y/N, null an empty cell. Ids stay strings
 * (20 digits do not fit a spreadsheet number).
 */
export function toCell(value: unknown, lang: Lang): XlsxCell {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'number') return value;
  if (typeof value === 'boolean') return YES_NO[lang][value ? 0 : 1];
  if (typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.formattedDateTime === 'string') return o.formattedDateTime;
    if (typeof o.label === 'string') return o.label;
  }
  return JSON.stringify(value);
}

/** A function turning one API row of the view into its cells, column by column. */
export function rowToCells(view: ExportView, lang: Lang): (row: object) => XlsxCell[] {
  const fields = EXPORT_COLUMNS[view].map((c) => c.field);
  return (row) => {
    const r = row as Record<string, unknown>;
    return fields.map((f) => toCell(r[f], lang));
  };
}
