import { describe, it, expect } from '@jest/globals';
import { classifySmtpReply, HARD_BOUNCE_CODES } from '../../src/modules/delivery/classify-smtp-reply.ts';
import type { SmtpOutcomeInput } from '../../src/modules/delivery/classify-smtp-reply.ts';
import type { ResultCode } from '../../src/shared/i18n.ts';

/** Build what nodemailer puts on an error from a raw reply: responseCode is the first 3 digits. */
const reply = (response: string, errorCode = 'EENVELOPE'): SmtpOutcomeInput => ({
  responseCode: Number(response.slice(0, 3)),
  response,
  errorCode,
  message: `${errorCode === 'EMESSAGE' ? 'Message failed' : 'Recipient command failed'}: ${response}`,
});

type Row = [name: string, input: SmtpOutcomeInput, resultCode: ResultCode, temporary: boolean, hardBounce: boolean];

const rows: Row[] = [
  // success
  ['250 OK', { responseCode: 250, response: '250 OK' }, 'MAIL_SENT', false, false],
  ['250 queued (enhanced 2.0.0)', { responseCode: 250, response: '250 2.0.0 Ok: queued as 4Bq1xY3kz' }, 'MAIL_SENT', false, false],

  // no reply at all
  ['ECONNECTION without response', { errorCode: 'ECONNECTION', message: 'Connection closed unexpectedly' }, 'CONNECTION_ABNORMAL', true, false],
  ['ETIMEDOUT', { errorCode: 'ETIMEDOUT', message: 'Greeting never received' }, 'CONNECTION_ABNORMAL', true, false],
  ['ESOCKET', { errorCode: 'ESOCKET', message: 'read ECONNRESET' }, 'CONNECTION_ABNORMAL', true, false],
  ['ECONNREFUSED', { errorCode: 'ECONNREFUSED', message: 'connect ECONNREFUSED 203.0.113.5:25' }, 'CONNECTION_ABNORMAL', true, false],
  ['ECONNRESET', { errorCode: 'ECONNRESET', message: 'socket hang up' }, 'CONNECTION_ABNORMAL', true, false],
  ['EDNS getaddrinfo', { errorCode: 'EDNS', message: 'getaddrinfo EAI_AGAIN mx.example.com' }, 'CONNECTION_ABNORMAL', true, false],
  ['EDNS saying domain not found', { errorCode: 'EDNS', message: 'Domain not found: nowhere.invalid' }, 'NONEXISTENT_DOMAIN_ADDRESS', false, true],
  ['EMESSAGE without response', { errorCode: 'EMESSAGE', message: 'Message failed' }, 'UNKNOWN_CAUSE_FAIL', false, false],
  ['unexpected error, no code', { message: 'Cannot read properties of undefined' }, 'UNKNOWN_CAUSE_FAIL', false, false],

  // reply code outside 2xx/4xx/5xx
  ['354 (not final)', reply('354 End data with <CR><LF>.<CR><LF>', 'EPROTOCOL'), 'UNDEFINED_ERROR', false, false],
  ['334 (auth challenge)', reply('334 VXNlcm5hbWU6', 'EAUTH'), 'UNDEFINED_ERROR', false, false],

  // 421 always
  ['421 4.7.0 too many connections', reply('421 4.7.0 Too many connections, try again later', 'ECONNECTION'), 'RECEIVE_MAIL_SERVICE_ABNORMAL', true, false],
  ['421 without enhanced', reply('421 mx.example.com Service not available, closing transmission channel'), 'RECEIVE_MAIL_SERVICE_ABNORMAL', true, false],

  // network / routing (X.4.x)
  ['450 4.4.2 timeout', reply('450 4.4.2 Connection timed out'), 'NETWORK_ABNORMAL', true, false],
  ['554 5.4.4 unable to route', reply('554 5.4.4 Unable to route: no MX record'), 'NETWORK_ERROR', false, false],

  // other 4xx / 5xx
  ['451 no enhanced code', reply('451 Requested action aborted: local error in processing'), 'SMTP_ABNORMAL', true, false],
  ['452 4.5.3 too many recipients', reply('452 4.5.3 Too many recipients'), 'SMTP_ABNORMAL', true, false],
  ['554 transaction failed', reply('554 Transaction failed', 'EMESSAGE'), 'SMTP_ERROR', false, false],
  ['501 5.5.4 syntax error', reply('501 5.5.4 Syntax error in parameters'), 'SMTP_ERROR', false, false],

  // mailbox (X.2.x)
  ['452 4.2.2 mailbox full', reply('452 4.2.2 Mailbox full'), 'MAILBOX_ABNORMAL', true, false],
  ['552 5.2.2 over quota (enhanced beats 552)', reply('552 5.2.2 <a@b.c>: user is over quota'), 'MAILBOX_ERROR', false, true],
  ['550 5.2.1 mailbox disabled', reply('550 5.2.1 The email account that you tried to reach is disabled.'), 'MAILBOX_ERROR', false, true],

  // mail system (X.3.x)
  ['451 4.3.0 try again later', reply('451 4.3.0 Try again later'), 'RECEIVE_MAIL_SERVICE_ABNORMAL', true, false],
  ['554 5.3.0 mail system error', reply('554 5.3.0 Other mail system problem'), 'RECEIVE_MAIL_SERVICE_ERROR', false, false],

  // security / policy (X.7.x)
  [
    '450 4.7.1 greylisted',
    reply('450 4.7.1 <a@b.c>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/'),
    'SECURITY_AND_POLICY_ABNORMAL',
    true,
    false,
  ],
  ['554 5.7.1 relay access denied', reply('554 5.7.1 <a@b.c>: Relay access denied'), 'SECURITY_AND_POLICY_ERROR', false, false],

  // recipient address
  [
    '550 5.1.1 postfix user unknown',
    reply('550 5.1.1 <a@b.c>: Recipient address rejected: User unknown in local recipient table'),
    'RECIPIENT_ADDRESS_ERROR',
    false,
    true,
  ],
  ['550 5.1.0 address rejected', reply('550 5.1.0 <a@b.c>: Address rejected'), 'RECIPIENT_ADDRESS_ERROR', false, true],
  [
    '553 5.1.3 bad destination syntax',
    reply('553 5.1.3 The recipient address <a@@b.c> is not a valid RFC-5321 address'),
    'RECIPIENT_ADDRESS_ERROR',
    false,
    true,
  ],
  ['550 User unknown (no enhanced)', reply('550 User unknown'), 'RECIPIENT_ADDRESS_ERROR', false, true],
  ['550 no such user (no enhanced)', reply('550 No such user here'), 'RECIPIENT_ADDRESS_ERROR', false, true],
  ['550 mailbox unavailable (no enhanced)', reply('550 Requested action not taken: mailbox unavailable'), 'RECIPIENT_ADDRESS_ERROR', false, true],
  ['550 5.0.0 user unknown (undefined subject)', reply('550 5.0.0 <a@b.c>... User unknown'), 'RECIPIENT_ADDRESS_ERROR', false, true],
  [
    '550 5.1.10 Exchange RecipientNotFound',
    reply('550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'),
    'RECIPIENT_ADDRESS_ERROR',
    false,
    true,
  ],
  [
    'multi-line 550-5.1.1',
    reply('550-5.1.1 The email account that you tried to reach does not exist.\n550 5.1.1 https://support.google.com/mail/?p=NoSuchUser'),
    'RECIPIENT_ADDRESS_ERROR',
    false,
    true,
  ],
  ['responseCode parsed from response text', { response: '550 5.1.1 <a@b.c>: User unknown', errorCode: 'EENVELOPE' }, 'RECIPIENT_ADDRESS_ERROR', false, true],

  // nonexistent domain
  [
    '550 5.1.2 bad destination system',
    reply('550 5.1.2 <a@nowhere.invalid>: Recipient address rejected: Domain not found'),
    'NONEXISTENT_DOMAIN_ADDRESS',
    false,
    true,
  ],
  ['550 host not found (no enhanced)', reply('550 Host not found'), 'NONEXISTENT_DOMAIN_ADDRESS', false, true],

  // content
  ['552 5.3.4 message too big', reply('552 5.3.4 Message size exceeds fixed limit', 'EMESSAGE'), 'MAIL_CONTENTS_ERROR', false, false],
  ['552 no enhanced (size)', reply('552 Message size exceeds maximum permitted', 'EMESSAGE'), 'MAIL_CONTENTS_ERROR', false, false],
  ['554 5.6.0 content rejected', reply('554 5.6.0 Message content rejected', 'EMESSAGE'), 'MAIL_CONTENTS_ERROR', false, false],

  // unsupported encoding
  ['553 5.1.7 bad sender', reply('553 5.1.7 bad sender'), 'UNSUPPORTED_ENCODING_ADDRESS', false, false],
  ['553 bad address syntax (no enhanced)', reply('553 <a b@c>... bad address syntax'), 'UNSUPPORTED_ENCODING_ADDRESS', false, false],
  ['553 5.6.7 SMTPUTF8 refused', reply('553 5.6.7 Non-ASCII addresses are not permitted for that recipient'), 'UNSUPPORTED_ENCODING_ADDRESS', false, false],
];

describe('classifySmtpReply', () => {
  it.each(rows)('%s', (_name, input, resultCode, temporary, hardBounce) => {
    expect(classifySmtpReply(input)).toEqual({ resultCode, temporary, hardBounce, success: resultCode === 'MAIL_SENT' });
  });

  it('blocks only address failures, not content, policy, network or other SMTP errors', () => {
    // Only failures that say the address itself can't receive: the list is service-wide.
    expect([...HARD_BOUNCE_CODES].sort()).toEqual(['MAILBOX_ERROR', 'NONEXISTENT_DOMAIN_ADDRESS', 'RECIPIENT_ADDRESS_ERROR']);
  });
});
