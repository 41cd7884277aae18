import type { Transporter } from 'nodemailer';
import type { Db } from '../../db/schema.ts';
import type { Logger } from '../../logger.ts';
import type { Lang } from '../../shared/i18n.ts';
import type { RetryPolicy } from './apply-send-result.ts';

/** What the delivery engine (claim loops, sender, recorder) works with. */
export interface DeliveryDeps {
  db: Db;
  transport: Transporter;
  logger: Logger;
  retry: RetryPolicy;
  now: () => Date;
  /** DATA_DIR: attachments are read from its files/ */
  dataDir: string;
  /** advertising mail: the token key, PUBLIC_BASE_URL and the basic notice's language */
  unsubscribe: { key: Buffer; baseUrl: string; lang: Lang };
  /** claim loops in this process (WORKER_CONCURRENCY) */
  loops: number;
  /** mails a loop claims at once (DELIVERY_CLAIM_BATCH) */
  claimBatch: number;
  /** mails a loop has with the transport at once (inFlightPerLoop) */
  inFlight: number;
}
