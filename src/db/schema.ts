import type { ColumnType, Generated, Kysely, Transaction } from 'kysely';

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

export interface MailRequestsTable {
  id: BigId;
  id_day: number;
  project_id: BigId;
  status: string;
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
}

export interface RequestPayloadsTable {
  request_id: BigId;
  recipients: string;
}

export interface MailsTable {
  id: BigId;
  id_day: number;
  request_id: BigId;
  project_id: BigId;
  seq: number;
  status: Generated<string>;
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
  status: Generated<string>;
  result_code: string | null;
  result_message: string | null;
  retry_count: Generated<number>;
  received_at: Timestamp | null;
  finished_at: Timestamp | null;
  /** the recipient used this mail's unsubscribe link (cleared on resubscribe) */
  unsubscribed: Generated<boolean>;
  /** when `unsubscribed` last changed */
  unsubscribed_at: Timestamp | null;
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

export interface TemplateExportsTable {
  sid: Generated<BigId>;
  project_id: BigId;
  status: string;
  requested_at: Generated<Timestamp>;
  completed_at: Timestamp | null;
  expires_at: Timestamp | null;
  file_size: ColumnType<string | null, number | null, number | null>;
}

export interface Database {
  projects: ProjectsTable;
  access_keys: AccessKeysTable;
  mail_requests: MailRequestsTable;
  request_payloads: RequestPayloadsTable;
  mails: MailsTable;
  recipients: RecipientsTable;
  files: FilesTable;
  request_files: RequestFilesTable;
  template_categories: TemplateCategoriesTable;
  templates: TemplatesTable;
  template_exports: TemplateExportsTable;
}

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
