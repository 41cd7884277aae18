import type { ColumnType, Generated, Kysely, Transaction } from 'kysely';
import type { MailStatus, RecipientStatus, RequestStatus } from '../shared/statuses.ts';

type Timestamp = Date;
/** jsonb: written as a JSON string, read back parsed */
type Json = ColumnType<unknown, string | null, string | null>;
/** bigint columns come back from pg as strings; we keep them as strings in the app. */
type BigId = string;

export interface ProjectsTable {
  id: Generated<BigId>;
  name: string;
  created_at: Generated<Timestamp>;
}

export interface AccessKeysTable {
  access_key: string;
  project_id: BigId;
  secret_enc: string;
  secret_hint: string;
  created_at: Generated<Timestamp>;
  revoked_at: Timestamp | null;
}

export interface ConsoleSessionsTable {
  /** sha256 of the cookie's token: a database read does not give a usable session */
  id: string;
  project_id: BigId;
  access_key: string;
  csrf_token: string;
  created_at: Generated<Timestamp>;
  last_seen_at: Generated<Timestamp>;
  expires_at: Timestamp;
}

export interface MailRequestsTable {
  id: BigId;
  id_day: number;
  project_id: BigId;
  status: RequestStatus;
  sender_address: string;
  sender_name: string | null;
  title: string;
  body: string;
  template_sid: BigId | null;
  template_name: string | null;
  individual: boolean;
  advertising: boolean;
  confirm_and_send: boolean;
  parameters: Json;
  references_header: string | null;
  use_basic_unsubscribe_msg: Generated<boolean>;
  unsubscribe_message: string | null;
  reservation_at: Timestamp | null;
  dispatch_type: Generated<string>;
  requester_ip: string | null;
  request_count: number;
  recipient_count: number;
  stored_count: Generated<number>;
  idempotency_key: string | null;
  idempotency_hash: string | null;
  created_at: Generated<Timestamp>;
  finished_at: Timestamp | null;
  canceled_at: Timestamp | null;
  /** when sending began: created (immediate), the reservation time, or "send now"; null while it has not */
  started_at: Timestamp | null;
  /** "send now" started it (a reserved or confirm-and-send request) */
  sent_now: Generated<boolean>;
  /** a test mail (createMailRequest testMail): its sent recipient is recorded as TEST_MAIL_SEND */
  test_mail: Generated<boolean>;
  /** recipientGroupFilter as given ({andFilter, groups}); null for other requests */
  recipient_group_filter: ColumnType<unknown, string | null | undefined, string | null>;
  /** the last address-book address id stored by the group expansion */
  recipient_group_cursor: Generated<BigId | null>;
  /** recipientFileId: the recipient file the request is sent to (rows copied while P) */
  recipient_file_id: Generated<string | null>;
}

export interface RequestPayloadsTable {
  request_id: BigId;
  /** 0-based position of the chunk's first recipient */
  first_seq: Generated<number>;
  recipients: string;
}

/** A part of a request's recipients stored alongside the others (migrations/20261205010100_store_parts.ts). */
export interface StorePartsTable {
  request_id: BigId;
  part: number;
  /** the source's last key stored (address id, file position): the part goes on after it */
  key_after: BigId;
  /** the part's last key; null: no bound */
  key_last: BigId | null;
  /** the seq of the part's next mail */
  next_seq: number;
  /** the part's last seq; null: no bound */
  last_seq: number | null;
  stored: Generated<number>;
  /** S storing, F full (seq range used up, keys left), D done */
  state: Generated<'S' | 'F' | 'D'>;
}

export interface MailsTable {
  id: BigId;
  id_day: number;
  request_id: BigId;
  project_id: BigId;
  seq: number;
  status: Generated<MailStatus>;
  recipient_count: number;
  representative_address: string;
  next_attempt_at: Timestamp | null;
  lease_until: Timestamp | null;
  lease_token: string | null;
  attempts: Generated<number>;
  created_at: Generated<Timestamp>;
  finished_at: Timestamp | null;
}

export interface RecipientsTable {
  id: Generated<BigId>;
  mail_id: BigId;
  request_id: BigId;
  project_id: BigId;
  address: string;
  name: string | null;
  type: string;
  parameters: Json;
  status: Generated<RecipientStatus>;
  result_code: string | null;
  result_message: string | null;
  retry_count: Generated<number>;
  received_at: Timestamp | null;
  finished_at: Timestamp | null;
  /** the recipient used this mail's unsubscribe link (cleared on resubscribe) */
  unsubscribed: Generated<boolean>;
  /** when `unsubscribed` last changed */
  unsubscribed_at: Timestamp | null;
  /** the request's created_at (requestDate), copied for the recipient view; every insert writes it */
  created_at: Timestamp;
  /** the last temporary cause (CONNECTION_ABNORMAL, ...) of a retried recipient; result_code stays RESENDING_MAIL / RESEND_MAIL_FAIL */
  temporary_result_code: string | null;
  /** a DSN came back after the mail was handed over: H hard (the recipient failed), S soft (recorded only) */
  bounce_type: 'H' | 'S' | null;
  /** the DSN's status (RFC 3463, e.g. 5.1.1) */
  bounce_status: string | null;
  /** the DSN's diagnostic (Diagnostic-Code), as received */
  bounce_message: string | null;
  bounced_at: Timestamp | null;
  /** an ARF complaint's Feedback-Type (abuse, fraud, ...) */
  complaint_type: string | null;
  complained_at: Timestamp | null;
}

export interface FilesTable {
  /** fileId: UUID + "-99", NCP's format */
  id: string;
  temp_request_id: string;
  project_id: BigId;
  /** order within its upload */
  position: number;
  name: string;
  /** bytes; int8 arrives as a string */
  size: ColumnType<string, number, number>;
  created_at: Generated<Timestamp>;
  used_at: Timestamp | null;
  deleted_at: Timestamp | null;
}

export interface RequestFilesTable {
  request_id: BigId;
  position: number;
  file_id: string;
  file_name: string;
  file_size: ColumnType<string, number, number>;
}

export interface TemplateCategoriesTable {
  sid: Generated<BigId>;
  project_id: BigId;
  /** null: top level (parentSid -1 in the API) */
  parent_sid: BigId | null;
  name: string;
  position: number;
  created_at: Generated<Timestamp>;
}

export interface TemplatesTable {
  sid: Generated<BigId>;
  project_id: BigId;
  /** null: top level */
  category_sid: BigId | null;
  name: string;
  description: string | null;
  title: string;
  body: string;
  sender_address: string;
  sender_name: string | null;
  is_use: boolean;
  position: number;
  created_at: Generated<Timestamp>;
  updated_at: Generated<Timestamp>;
}

/** The template backups (NCP: export requests; the table keeps that name). */
export interface TemplateBackupsTable {
  sid: Generated<BigId>;
  project_id: BigId;
  status: string;
  requested_at: Generated<Timestamp>;
  completed_at: Timestamp | null;
  expires_at: Timestamp | null;
  file_size: ColumnType<string | null, number | null, number | null>;
  attempts: Generated<number>;
  error: string | null;
}

export interface AddressBookAddressesTable {
  id: Generated<BigId>;
  project_id: BigId;
  /** as first given; unique per project on lower(address) */
  address: string;
  created_at: Generated<Timestamp>;
}

export interface AddressBookGroupsTable {
  sid: Generated<BigId>;
  project_id: BigId;
  name: string;
  created_at: Generated<Timestamp>;
}

export interface AddressBookMembersTable {
  group_sid: BigId;
  address_id: BigId;
}

export interface WebhooksTable {
  id: Generated<BigId>;
  project_id: BigId;
  url: string;
  events: string[];
  description: string | null;
  /** the whsec_ secret sealed with the master key */
  secret_sealed: string;
  enabled: Generated<boolean>;
  disabled_reason: string | null;
  disabled_at: Timestamp | null;
  consecutive_failures: Generated<number>;
  failing_since: Timestamp | null;
  created_at: Generated<Timestamp>;
  updated_at: Generated<Timestamp>;
}

export interface WebhookDeliveriesTable {
  id: Generated<BigId>;
  webhook_id: BigId;
  project_id: BigId;
  event_type: string;
  subject_id: BigId;
  event_at: Generated<Timestamp>;
  payload: string | null;
  /** P pending, S delivered, F failed */
  status: Generated<string>;
  attempts: Generated<number>;
  next_attempt_at: Timestamp | null;
  lease_until: Timestamp | null;
  last_attempt_at: Timestamp | null;
  last_status_code: number | null;
  last_latency_ms: number | null;
  last_response: string | null;
  last_error: string | null;
  created_at: Generated<Timestamp>;
}

export interface ExportsTable {
  id: Generated<BigId>;
  project_id: BigId;
  view: string;
  /** the view's filters as the client sent them */
  filters: Json;
  lang: string;
  time_zone: string;
  status: string;
  attempts: Generated<number>;
  row_count: ColumnType<string | null, number | null, number | null>;
  file_size: ColumnType<string | null, number | null, number | null>;
  error: string | null;
  requested_at: Timestamp;
  started_at: Timestamp | null;
  heartbeat_at: Timestamp | null;
  completed_at: Timestamp | null;
  expires_at: Timestamp | null;
}

export interface UnsubscribersTable {
  id: Generated<BigId>;
  project_id: BigId;
  /** as first given; unique per project on lower(address) */
  address: string;
  /** true: registered through the API; false: the recipient used an unsubscribe link */
  reg_by_manager: boolean;
  created_at: Generated<Timestamp>;
}

export interface BlockedDomainsTable {
  id: Generated<BigId>;
  project_id: BigId;
  /** normalised: lower-case ASCII (IDN as punycode), no trailing dot; unique per project */
  domain: string;
  created_at: Generated<Timestamp>;
}

export interface SenderDomainsTable {
  id: Generated<BigId>;
  project_id: BigId;
  /** normalised: lower-case ASCII (IDN as punycode), no trailing dot; unique per project */
  domain: string;
  created_at: Generated<Timestamp>;
  /** the last verifySenderDomain */
  checked_at: Timestamp | null;
  spf_found: Generated<boolean>;
  dmarc_found: Generated<boolean>;
}

export interface DkimKeysTable {
  id: Generated<BigId>;
  sender_domain_id: BigId;
  selector: string;
  /** rsa-sha256 or ed25519-sha256 */
  algorithm: string;
  /** the p= value of the DNS record */
  public_key: string;
  /** PKCS#8 PEM, sealed with the master key (SecretBox) */
  sealed_private_key: string;
  /** P pending, V verified (its record is published), F failed */
  status: Generated<string>;
  created_at: Generated<Timestamp>;
  verified_at: Timestamp | null;
}

export interface SendBlocksTable {
  /** lower(address): the list is service-wide and case-insensitive */
  address_key: string;
  address: string;
  /** the project whose mail bounced */
  project_id: BigId | null;
  blocked_until: Timestamp;
  created_at: Generated<Timestamp>;
}

export interface SendBlockHistoryTable {
  sid: Generated<BigId>;
  address_key: string;
  address: string;
  /** C created, D deleted */
  action: string;
  /** CUSTOMER (project_id says which), SYSTEM (expiry), ADMIN */
  requester_type: string;
  project_id: BigId | null;
  send_result_code: string | null;
  send_result_message: string | null;
  created_at: Timestamp;
}

export interface ProjectConfigTable {
  project_id: BigId;
  type: string;
  value: string;
  unit: string;
  updated_at: Generated<Timestamp>;
}

export interface RecipientFilesTable {
  id: string;
  project_id: BigId;
  file_name: string;
  tags: string[];
  /** non-blank data rows (valid or not) */
  row_count: number;
  /** rows stored in recipient_file_rows (pos 1..valid_count) */
  valid_count: number;
  created_at: Generated<Timestamp>;
  used_at: Timestamp | null;
}

export interface RecipientFileRowsTable {
  file_id: string;
  /** 1..valid_count without gaps: the seq of the row's mail */
  pos: number;
  /** the row as the spreadsheet shows it (header = 1) */
  row_no: number;
  address: string;
  name: string | null;
  parameters: Json;
}

/** BLOB_STORE=postgres (src/shared/blob-store/postgres-blob-store.ts) */
export interface BlobsTable {
  id: string;
  key: string;
  size: ColumnType<BigId, number | undefined, number>;
  chunks: ColumnType<number, number | undefined, number>;
  complete: ColumnType<boolean, boolean | undefined, boolean>;
  created_at: Timestamp;
}

export interface BlobChunksTable {
  blob_id: string;
  n: number;
  data: Buffer;
}

export interface Database {
  blobs: BlobsTable;
  blob_chunks: BlobChunksTable;
  projects: ProjectsTable;
  access_keys: AccessKeysTable;
  console_sessions: ConsoleSessionsTable;
  mail_requests: MailRequestsTable;
  request_payloads: RequestPayloadsTable;
  mails: MailsTable;
  store_parts: StorePartsTable;
  recipients: RecipientsTable;
  files: FilesTable;
  request_files: RequestFilesTable;
  template_categories: TemplateCategoriesTable;
  templates: TemplatesTable;
  template_exports: TemplateBackupsTable;
  exports: ExportsTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  address_book_addresses: AddressBookAddressesTable;
  address_book_groups: AddressBookGroupsTable;
  address_book_members: AddressBookMembersTable;
  unsubscribers: UnsubscribersTable;
  blocked_domains: BlockedDomainsTable;
  sender_domains: SenderDomainsTable;
  dkim_keys: DkimKeysTable;
  send_blocks: SendBlocksTable;
  send_block_history: SendBlockHistoryTable;
  project_config: ProjectConfigTable;
  recipient_files: RecipientFilesTable;
  recipient_file_rows: RecipientFileRowsTable;
}

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
