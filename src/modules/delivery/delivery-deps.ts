import type { MailTransport } from './transport.ts';
import type { Config } from '../../config.ts';
import type { AppDeps } from '../../deps.ts';
import type { Lang } from '../../shared/i18n.ts';
import { langOfAdPrefix } from '../unsubscribes/unsubscribe-message.ts';
import { unsubscribeKeyFor } from '../unsubscribes/unsubscribes.service.ts';
import type { RetryPolicy } from './apply-send-result.ts';
import { inFlightPerLoop } from './delivery-settings.ts';
import { verpKeyFor } from '../feedback/feedback.service.ts';

/** What the delivery engine (claim loops, sender, recorder) works with: the app's deps and the SMTP transport. */
export type DeliveryDeps = Pick<AppDeps, 'db' | 'logger' | 'now' | 'config' | 'box' | 'blobs'> & { transport: MailTransport };

/** The engine's settings, read from the configuration once. */
export interface DeliverySettings {
  retry: RetryPolicy;
  /** advertising mail: the token key, PUBLIC_BASE_URL and the basic notice's language */
  unsubscribe: { key: Buffer; baseUrl: string; lang: Lang };
  /** BOUNCE_DOMAIN and the VERP key: each mail's return path names its recipient; null: the sender's address */
  bounce: { key: Buffer; domain: string } | null;
  /** claim loops in this process (WORKER_CONCURRENCY) */
  loops: number;
  /** mails a loop claims at once (DELIVERY_CLAIM_BATCH) */
  claimBatch: number;
  /** mails a loop has with the transport at once (inFlightPerLoop) */
  inFlight: number;
}

export function deliverySettings(config: Readonly<Config>): DeliverySettings {
  return {
    retry: { retryLimit: config.retryLimit, baseDelayMs: config.retryBaseDelayMs },
    unsubscribe: { key: unsubscribeKeyFor(config), baseUrl: config.publicBaseUrl, lang: langOfAdPrefix(config.adTitlePrefix) },
    bounce: config.bounceDomain ? { key: verpKeyFor(config), domain: config.bounceDomain } : null,
    loops: config.workerConcurrency,
    claimBatch: config.deliveryClaimBatch,
    inFlight: inFlightPerLoop(config.smtpMaxConnections, config.workerConcurrency),
  };
}
