import { describe, expect, it } from '@jest/globals';
import { createRelayHealth, FAILURE_SUMMARY_MS } from '../../src/modules/delivery/relay-health.ts';
import type { Logger } from '../../src/logger.ts';

function capture() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) => void lines.push({ level, obj, msg });
  return { lines, logger: { warn: at('warn'), info: at('info') } as unknown as Logger };
}

describe('createRelayHealth', () => {
  it('one warn line when deliveries start failing, a summary while they go on, one line when they recover', () => {
    const { lines, logger } = capture();
    let t = 1_000;
    const relay = createRelayHealth(logger, () => t);
    relay.succeeded();
    expect(lines).toHaveLength(0);
    const failure = { recipients: 3, reply: 'connect ECONNREFUSED 127.0.0.1:25', code: 'CONNECTION_ABNORMAL', temporary: true };
    relay.failed(failure);
    expect(lines).toEqual([
      { level: 'warn', obj: { recipients: 3, reply: failure.reply, code: 'CONNECTION_ABNORMAL', temporary: true }, msg: 'smtp: delivery failed' },
    ]);
    for (let i = 0; i < 100; i++) relay.failed({ ...failure, recipients: 1 });
    expect(lines).toHaveLength(1);
    t += FAILURE_SUMMARY_MS;
    relay.failed({ ...failure, recipients: 2, reply: '421 4.3.2 busy' });
    expect(lines[1]).toEqual({
      level: 'warn',
      obj: { failures: 101, recipients: 102, lastReply: '421 4.3.2 busy', failingForMs: FAILURE_SUMMARY_MS },
      msg: 'smtp: deliveries still failing',
    });
    t += 500;
    relay.succeeded();
    expect(lines[2]).toEqual({
      level: 'info',
      obj: { failures: 102, recipients: 105, failedForMs: FAILURE_SUMMARY_MS + 500, lastReply: '421 4.3.2 busy' },
      msg: 'smtp: relay recovered, deliveries succeed again',
    });
    relay.succeeded();
    expect(lines).toHaveLength(3);
    // a new streak starts with its own first line
    relay.failed(failure);
    expect(lines[3]!.msg).toBe('smtp: delivery failed');
  });
});
