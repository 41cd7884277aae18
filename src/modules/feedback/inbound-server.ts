import { SMTPServer, type SMTPServerDataStream, type SMTPServerError } from 'smtp-server';
import type { Config } from '../../config.ts';
import type { AppDeps } from '../../deps.ts';
import { countInbound, type InboundOutcome } from '../../metrics.ts';
import { listenSmtp, SMTP_CLOSE_TIMEOUT_MS, smtpError, type SmtpListener } from '../../shared/smtp-listener.ts';
import { createFeedbackApplier, verpKeyFor } from './feedback.service.ts';
import { DEFAULT_PARSE_REPORT_LIMITS, parseReport } from './parse-report.ts';
import { openVerpAddress } from './verp.ts';

/** Bytes of a report kept and parsed (parse-report's own default bound). */
const PARSE_BYTES = DEFAULT_PARSE_REPORT_LIMITS.maxBytes;

/** Connections one client address may hold open at once. */
export const MAX_CONNECTIONS_PER_ADDRESS = 20;

/**
 * The report's first PARSE_BYTES (what the parser reads: a DSN's report parts come before the
 * returned message), or undefined past `maxBytes` (the rest is read and dropped: the client gets
 * its 552 after DATA). A connection never holds more than PARSE_BYTES, whatever INBOUND_MAX_BYTES.
 */
async function readUpTo(stream: SMTPServerDataStream, maxBytes: number): Promise<Buffer | undefined> {
  const keep = Math.min(maxBytes, PARSE_BYTES);
  const parts: Buffer[] = [];
  let length = 0;
  let kept = 0;
  for await (const part of stream as AsyncIterable<Buffer>) {
    length += part.length;
    if (kept < keep) {
      const piece = part.length > keep - kept ? part.subarray(0, keep - kept) : part;
      parts.push(piece);
      kept += piece.length;
    }
  }
  return length > maxBytes || stream.sizeExceeded ? undefined : Buffer.concat(parts);
}

/**
 * The bounce and complaint listener (INBOUND_SMTP_PORT): BOUNCE_DOMAIN's MX points here.
 *
 * - RCPT TO a VERP return path (b-<id>-<tag>@BOUNCE_DOMAIN) with a valid tag, or to the
 *   feedback-loop address (INBOUND_FBL_ADDRESS) is accepted; anything else is refused at RCPT
 *   (550 5.1.1, counted as unknown_address, or forged for a VERP address whose tag is wrong).
 * - The message is parsed (RFC 3464 DSN, RFC 5965 ARF); a complaint sent to the FBL address is
 *   matched by the VERP return path of the original message it quotes. A report whose token
 *   can't be found is refused (550, counted), never applied; a valid token's message that is no
 *   report (an auto-reply to the return path) is accepted and dropped (counted).
 * - 250 only once applied and committed (group commits); a database error answers 451, so the
 *   sending MTA keeps the report and tries again.
 *
 * No TLS is offered and no authentication is taken: reports are public mail, checked by token.
 */
export async function startInboundServer(
  deps: Pick<AppDeps, 'db' | 'now' | 'logger'> & { config: Pick<Config, 'bounceDomain' | 'inboundFblAddress' | 'inboundMaxBytes' | 'masterKey' | 'dataDir'> },
  listen: { host: string; port: number },
): Promise<SmtpListener> {
  const domain = deps.config.bounceDomain;
  if (!domain) throw new Error('the inbound listener needs BOUNCE_DOMAIN');
  const fbl = deps.config.inboundFblAddress?.toLowerCase();
  const maxBytes = deps.config.inboundMaxBytes;
  const key = verpKeyFor(deps.config);
  const apply = createFeedbackApplier(deps);
  const refuse = (outcome: InboundOutcome, code: number, message: string) => {
    countInbound(outcome);
    return smtpError(code, message);
  };

  /** The recipients the transaction's RCPT TO named by VERP token (each checked at RCPT already). */
  const recipientIdsOf = (rcptTo: { address: string }[]) =>
    rcptTo.flatMap((r) => {
      const opened = openVerpAddress(key, domain, r.address);
      return opened.ok ? [opened.recipientId] : [];
    });

  async function handle(raw: Buffer, recipientIds: string[]): Promise<string> {
    const report = await parseReport(raw);
    let ids = recipientIds;
    if (report.kind !== 'other' && !ids.length && report.original.returnPath) {
      const opened = openVerpAddress(key, domain!, report.original.returnPath);
      if (opened.ok) ids = [opened.recipientId];
    }
    if (!ids.length) {
      // Only the FBL address was named, and the quoted original carries no token of ours.
      throw refuse(report.kind === 'other' ? 'not_a_report' : 'forged', 550, '5.7.1 no valid return-path token in this report');
    }
    if (report.kind === 'other') {
      countInbound('not_a_report');
      return 'OK: not a delivery or feedback report, dropped';
    }
    const outcome = await apply({ recipientIds: ids, report });
    countInbound(outcome);
    return `OK: ${outcome.replace('_', ' ')}`;
  }

  // Connections per client address: one host can't hold every slot (maxClients) open and lock
  // the real MTAs out; theirs are few, and a reporting MTA with more waits its turn (421).
  const perAddress = new Map<string, number>();
  const server = new SMTPServer({
    banner: 'outbound-mailer bounce and complaint listener',
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    size: maxBytes,
    disableReverseLookup: true,
    closeTimeout: SMTP_CLOSE_TIMEOUT_MS,
    socketTimeout: 60_000,
    maxClients: 500,
    logger: false,
    onConnect(session, callback) {
      const n = perAddress.get(session.remoteAddress) ?? 0;
      if (n >= MAX_CONNECTIONS_PER_ADDRESS) return callback(smtpError(421, '4.7.0 too many connections from your address, try again later'));
      perAddress.set(session.remoteAddress, n + 1);
      // Counted once accepted: the close of a refused connection must not free another's slot.
      (session as { counted?: boolean }).counted = true;
      callback();
    },
    onClose(session) {
      if (!(session as { counted?: boolean }).counted) return;
      const n = (perAddress.get(session.remoteAddress) ?? 1) - 1;
      if (n > 0) perAddress.set(session.remoteAddress, n);
      else perAddress.delete(session.remoteAddress);
    },
    onRcptTo(address, session, callback) {
      const addr = address.address.toLowerCase();
      if (session.envelope.rcptTo.length >= 100) return callback(smtpError(452, '4.5.3 too many recipients'));
      if (fbl && addr === fbl) return callback();
      const opened = openVerpAddress(key, domain, addr);
      if (opened.ok) return callback();
      callback(refuse(opened.reason === 'forged' ? 'forged' : 'unknown_address', 550, '5.1.1 no such return path here'));
    },
    onData(stream, session, callback) {
      readUpTo(stream, maxBytes)
        .then((raw) => {
          if (!raw) throw refuse('too_large', 552, `5.3.4 a report may have at most ${maxBytes} bytes`);
          return handle(raw, recipientIdsOf(session.envelope.rcptTo));
        })
        .then(
          (reply) => callback(null, reply),
          (err: unknown) => {
            const e = err as SMTPServerError;
            if (e.responseCode) return callback(e);
            deps.logger.warn({ err: e.message }, 'inbound: a report could not be applied; its sender will retry');
            callback(smtpError(451, '4.3.0 try again later'));
          },
        );
    },
  });
  // Without a listener an 'error' event (a client resetting mid-transaction) would end the process.
  server.on('error', (err) => deps.logger.debug({ err: err.message }, 'inbound: connection error'));
  const listener = await listenSmtp(server, listen.host, listen.port);
  deps.logger.info({ port: listener.port, domain }, `bounce and complaint listener on port ${listener.port}`);
  return listener;
}
