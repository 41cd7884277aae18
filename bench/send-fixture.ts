// The send benchmarks' mail (bench/send.bench.ts, bench/dkim.bench.ts): one personalised ~2 KB
// HTML order notice per recipient, the request that asks the service to send it, and the same
// messages sent by plain nodemailer (the baseline the service is compared with).
import type { SendMailOptions } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import { htmlToText } from '../src/modules/delivery/request-context.ts';
import { wallNow, withTimeout } from './helpers.ts';
import { baselineTransport, type Cleanups, type SinkProcess } from './send-run.ts';

export const SENDER = { address: 'no_reply@company.com', name: 'Bench Shop' };
export const TITLE = '${NAME}, your order ${CODE} has shipped';
/** about 2 KB of HTML with user tags and a meta tag */
export const BODY = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Order update</title></head>
<body style="font-family:Arial,Helvetica,sans-serif;color:#222;background:#f6f6f6;margin:0;padding:0">
<table width="100%" cellpadding="0" cellspacing="0" style="max-width:600px;margin:0 auto;background:#fff">
<tr><td style="padding:24px 32px;border-bottom:1px solid #eee"><h1 style="font-size:20px;margin:0">Hello #{RECIPIENT_NAME},</h1></td></tr>
<tr><td style="padding:24px 32px;font-size:14px;line-height:1.6">
<p>Good news, \${NAME}: your order <strong>\${CODE}</strong> has left our warehouse and is on its way to you.
The total charged to your card is <strong>\${AMOUNT} KRW</strong>. You will receive another message when the parcel
is out for delivery. If anything looks wrong, reply to this mail or call our service centre; we are happy to help.</p>
<table cellpadding="6" cellspacing="0" style="border-collapse:collapse;width:100%;font-size:13px">
<tr style="background:#fafafa"><th align="left">Order</th><td>\${CODE}</td></tr>
<tr><th align="left">Amount</th><td>\${AMOUNT} KRW</td></tr>
<tr style="background:#fafafa"><th align="left">Carrier</th><td>Bench Express, standard delivery (2-3 working days)</td></tr>
<tr><th align="left">Address</th><td>The delivery address you gave when ordering</td></tr>
</table>
<p>You can follow the parcel at any time on the <a href="https://shop.example.com/orders/\${CODE}?utm_source=mail">order page</a>.
Returns are free within 30 days; see our <a href="https://shop.example.com/help/returns">returns policy</a> for details.</p>
<p>Thank you for shopping with us, and see you soon.<br>The Bench Shop team</p>
</td></tr>
<tr><td style="padding:16px 32px;font-size:11px;color:#888;border-top:1px solid #eee">
This message was sent to you because you placed an order at Bench Shop. Bench Shop Inc., 1 Example Street, Seoul.
Customer service: 02-000-0000 (weekdays 09:00-18:00). Please do not reply with card numbers or passwords.
</td></tr></table></body></html>`;

export interface BenchRecipient {
  address: string;
  name: string;
  type: 'R';
  parameters: { NAME: string; CODE: string; AMOUNT: string };
}
export function recipient(prefix: string, i: number): BenchRecipient {
  const name = `${prefix === 'user' ? 'User' : 'Warm'} ${i}`;
  return {
    address: `${prefix}${i}@example.com`,
    name,
    type: 'R',
    parameters: { NAME: name, CODE: `ORD-${String(i).padStart(7, '0')}`, AMOUNT: String(10_000 + ((i * 7919) % 990_000)) },
  };
}
/** The POST /mails body: the mail to each recipient, individually, from `senderAddress` (default SENDER's). */
export function requestBody(recipients: BenchRecipient[], senderAddress = SENDER.address): string {
  return JSON.stringify({ senderAddress, senderName: SENDER.name, title: TITLE, body: BODY, individual: true, recipients });
}

/** ${TAG} / #{TAG} substitution for the baseline, compiled once (independent of src's renderer). */
function compile(text: string): (vars: Record<string, string>) => string {
  const parts = text.split(/(\$\{[A-Z_]+\}|#\{[A-Z_]+\})/);
  return (vars) => {
    let out = '';
    for (let i = 0; i < parts.length; i++) out += i % 2 ? (vars[parts[i]!.slice(2, -1)] ?? parts[i]) : parts[i];
    return out;
  };
}

// ---------- baseline: plain nodemailer pool ----------

/** sendMail promises the baseline keeps in flight (queueing all at once costs hundreds of MB) */
const BASELINE_IN_FLIGHT = 1_000;

export interface BaselineOptions {
  cleanups: Cleanups;
  log: (msg: string) => void;
  sink: SinkProcess;
  n: number;
  connections: number;
  timeoutMs: number;
  senderAddress?: string;
  /** nodemailer's own DKIM signing (RSA), as a sender without the service would sign */
  dkim?: SMTPTransport.Options['dkim'];
}

/** Plain nodemailer's pool sends the n messages to the sink; seconds until the sink has them all. */
export async function baseline(o: BaselineOptions): Promise<{ seconds: number; clientSeconds: number; failed: number; cpu: number }> {
  const { sink, n: N, log } = o;
  const sender = o.senderAddress ?? SENDER.address;
  const title = compile(TITLE);
  const html = compile(BODY);
  const text = compile(htmlToText(BODY));
  const transport = baselineTransport(o.cleanups, sink.port, o.connections);
  await sink.mark();
  const reached = sink.watch(N);
  const cpu0 = process.cpuUsage();
  const t0 = wallNow();
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < N) {
      const r = recipient('user', next++);
      const vars = { ...r.parameters, RECIPIENT_NAME: r.name, RECIPIENT_ADDRESS: r.address, SENDER_NAME: SENDER.name, SENDER_ADDRESS: sender };
      const msg: SendMailOptions = {
        from: { name: SENDER.name, address: sender },
        to: [{ name: r.name, address: r.address }],
        subject: title(vars),
        html: html(vars),
        text: text(vars),
        envelope: { from: sender, to: [r.address] },
      };
      if (o.dkim) msg.dkim = o.dkim;
      try {
        await transport.sendMail(msg);
      } catch (err) {
        if (failed++ < 5) log(`baseline sendMail failed: ${(err as Error).message}`);
      }
    }
  };
  const sending = Promise.all(Array.from({ length: Math.min(BASELINE_IN_FLIGHT, N) }, worker));
  await withTimeout(sending, o.timeoutMs, 'baseline sending');
  const clientSeconds = (wallNow() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const at = failed ? wallNow() : await withTimeout(reached, 30_000, 'baseline: sink to see every recipient');
  transport.close();
  return { seconds: (at - t0) / 1000, clientSeconds, failed, cpu: (cpu.user + cpu.system) / 1e6 };
}
