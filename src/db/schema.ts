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
}

export interface Database {
  projects: ProjectsTable;
  access_keys: AccessKeysTable;
  mail_requests: MailRequestsTable;
  request_payloads: RequestPayloadsTable;
  mails: MailsTable;
  recipients: RecipientsTable;
}

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
